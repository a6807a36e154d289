"""hotfn's hello function, with the FDK: one process serves every call."""

from hotfn import fdk


def handler(ctx: fdk.Context, data: bytes) -> str:
    name = data.decode() or "World"
    return f"Hello {name} from Python!\n"


if __name__ == "__main__":
    fdk.handle(handler)
