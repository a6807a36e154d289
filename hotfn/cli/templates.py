"""What ``hotfn init`` writes: handlers, Dockerfiles and func.yaml lines per form.

Every handler answers ``{"message": "Hello <name>"}`` (name from a JSON body's
``name``, else the body as text, else World) and writes one line to stderr, which
``hotfn logs`` shows: the same function in each runtime and contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE_IMAGE = "hotfn/base:latest"
# The image that holds /hotwrap, a static executable (hotwrap/, docs/hotwrap.md).
HOTWRAP_IMAGE = "hotfn/hotwrap:latest"


def hotwrap_snippet(image: str = HOTWRAP_IMAGE, command: str = "node ./func.js") -> str:
    """The Dockerfile lines that make an image's command a hot function.

    Add them at the end of any Linux image's Dockerfile (/hotwrap is statically
    linked: no interpreter needed); ``command`` becomes the CMD (shell form here;
    the exec form works as well).
    """
    return (
        "# Serve the command below as a hot function (hotfn hotwrap)\n"
        f"COPY --from={image} /hotwrap /hotwrap\n"
        'ENTRYPOINT ["/hotwrap"]\n'
        f"CMD {command}\n"
    )


PYTHON_FDK = '''\
"""{name}: a hotfn function, served hot by hotfn's Python FDK (format http-stream).

One process answers call after call; state kept in globals survives between calls.
"""

import json
import sys

from hotfn import fdk


def handler(ctx: fdk.Context, data: bytes) -> dict:
    name = data.decode(errors="replace").strip() or "World"
    try:
        name = json.loads(data).get("name", name)
    except (ValueError, AttributeError):
        pass  # not a JSON object: the body is the name
    # stderr goes to the call's log: `hotfn logs APP FN`
    print(f"{{name}} called call {{ctx.call_id}}", file=sys.stderr, flush=True)
    return {{"message": f"Hello {{name}}"}}
'''

PYTHON_STDIO = '''\
"""{name}: a hotfn function that reads the request body on stdin and writes the
response on stdout ({how})."""

import json
import os
import sys


def main() -> None:
    data = sys.stdin.read()
    name = data.strip() or "World"
    try:
        name = json.loads(data).get("name", name)
    except (ValueError, AttributeError):
        pass  # not a JSON object: the body is the name
    # stderr goes to the call's log: `hotfn logs APP FN`
    print(f"{{name}} called call {{os.environ.get('FN_CALL_ID')}}", file=sys.stderr, flush=True)
    json.dump({{"message": f"Hello {{name}}"}}, sys.stdout)


if __name__ == "__main__":
    main()
'''

NODE_FDK = """\
// {name}: a hotfn function on Fn's Node FDK (@fnproject/fdk, which the hotfn/node
// image carries), served hot (format http-stream): one node process answers call
// after call; state kept in module variables survives between calls.
const fdk = require("@fnproject/fdk");

// input: the body parsed as JSON, or the text if it is not JSON ({{inputMode: "json"}},
// the default; "string" and "buffer" are the others). Return a value (JSON), or a
// Promise of one from an async handler; ctx.httpGateway sets an HTTP trigger's
// status and headers.
fdk.handle(function (input, ctx) {{
  let name = "World";
  if (input && typeof input.name === "string") name = input.name;
  else if (typeof input === "string" && input.trim()) name = input.trim();
  // stderr goes to the call's log: `hotfn logs APP FN`
  console.error(`${{name}} called call ${{ctx.callID}}`);
  return {{ message: `Hello ${{name}}` }};
}});
"""

# As Fn's CLI writes it: `fn build` installs the FDK from npm; hotfn's build uses the
# copy in hotfn/node (no registry needed) when the FDK is the only dependency.
NODE_PACKAGE_JSON = """\
{{
  "name": "{name}",
  "version": "1.0.0",
  "description": "A hotfn function on Fn's Node FDK",
  "main": "func.js",
  "dependencies": {{
    "@fnproject/fdk": ">=0.0.76"
  }}
}}
"""

NODE_STDIO = """\
// {name}: a hotfn function that reads the request body on stdin and writes the
// response on stdout ({how}).
const fs = require("fs");

const data = fs.readFileSync(0, "utf8");
let name = data.trim() || "World";
try {{
  const body = JSON.parse(data);
  if (body && typeof body.name === "string") name = body.name;
}} catch (e) {{}} // not JSON: the body is the name
// stderr goes to the call's log: `hotfn logs APP FN`
console.error(`${{name}} called call ${{process.env.FN_CALL_ID}}`);
process.stdout.write(JSON.stringify({{ message: `Hello ${{name}}` }}));
"""

# As examples/reference/Dockerfile.default, on the local base image.
DOCKERFILE_DEFAULT = f"""\
# A new container per call (format: default): the body on stdin, the answer on stdout.
FROM {BASE_IMAGE}

WORKDIR /function

ADD func.js /function/func.js

ENTRYPOINT ["node", "./func.js"]
"""

# As examples/reference/Dockerfile.hotwrap, on the local images.
DOCKERFILE_HOTWRAP = f"""\
# Pull the hotwrap container as a build dependency
FROM {HOTWRAP_IMAGE} as hotwrap

# Start of your normal docker file
FROM {BASE_IMAGE}

WORKDIR /function

# Add function implementation
ADD func.js /function/func.js
CMD node ./func.js

# Install hotwrap binary in your container (it serves the hot contract and runs the CMD per call)
COPY --from=hotwrap /hotwrap /hotwrap
ENTRYPOINT ["/hotwrap"]
"""


@dataclass
class Template:
    """The files of one form and the func.yaml fields that say how to run it."""

    files: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)


def choose(runtime: str, fmt: str, hotwrap: bool, name: str) -> Template:
    """The template for ``runtime`` and contract. http-stream needs something that
    serves the hot contract: the FDK for Python and Node, hotwrap for docker."""
    hot = fmt == "http-stream"
    wrap = hotwrap or (hot and runtime == "docker")
    how = "hotwrap runs it per call in a hot container" if wrap else "a new container per call"
    if runtime == "docker":
        dockerfile = DOCKERFILE_HOTWRAP if wrap else DOCKERFILE_DEFAULT
        return Template(
            {"func.js": NODE_STDIO.format(name=name, how=how), "Dockerfile": dockerfile}
        )
    image = "hotfn/python:latest" if runtime == "python" else "hotfn/node:latest"
    fields = {"build_image": image, "run_image": image}
    if runtime == "python" and not wrap and hot:
        fields["entrypoint"] = "/python/bin/fdk /function/func.py handler"
        return Template({"func.py": PYTHON_FDK.format(name=name)}, fields)
    if runtime == "node" and not wrap and hot:
        fields["entrypoint"] = "node func.js"
        files = {
            "func.js": NODE_FDK.format(name=name),
            "package.json": NODE_PACKAGE_JSON.format(name=name),
        }
        return Template(files, fields)
    command = "python3 func.py" if runtime == "python" else "node func.js"
    if wrap:
        fields.update(entrypoint="/hotwrap", cmd=command)
    else:
        fields["entrypoint"] = command
    source = PYTHON_STDIO if runtime == "python" else NODE_STDIO
    filename = "func.py" if runtime == "python" else "func.js"
    return Template({filename: source.format(name=name, how=how)}, fields)


def func_yaml(name: str, runtime: str, fmt: str, fields: dict[str, str], trigger: bool) -> str:
    """func.yaml in Fn's field order, with a comment that deploy keeps."""
    lines = [
        "# hotfn function: `hotfn deploy --app APP --local` builds and deploys it.",
        "schema_version: 20180708",
        f"name: {name}",
        "version: 0.0.1",
        f"runtime: {runtime}",
    ]
    lines += [f"{key}: {fields[key]}" for key in ("build_image", "run_image") if key in fields]
    lines += [f"{key}: {fields[key]}" for key in ("cmd", "entrypoint") if key in fields]
    lines += ["memory: 256", f"format: {fmt}"]
    if trigger:
        lines += ["triggers:", f"- name: {name}", "  type: http", f"  source: /{name}"]
    return "\n".join(lines) + "\n"
