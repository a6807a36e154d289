# hotfn/python: the Python runtime for functions, with hotfn's FDK importable by
# any user (`from hotfn import fdk`), the `fdk` launcher (/usr/local/bin/fdk and,
# for Dockerfiles written for Fn, /python/bin/fdk) and /hotwrap.
#
# A function image:
#     FROM hotfn/python:latest
#     WORKDIR /function
#     COPY func.py /function/
#     ENTRYPOINT ["fdk", "/function/func.py", "handler"]
#
# The label io.hotfn.runtime=python (inherited by function images built FROM this
# one) lets the agent start such a function in a warm generic container of this
# image (`fdk --generic`) instead of a new container: see docs/coldstart.md.
#
# Build from the repository root (no network needed):
#     docker build -f images/python.Dockerfile -t hotfn/python:latest .
# BASE is the runtime: the local hotfn/base (Debian bookworm, python3) by default;
# where images can be pulled, the official one works the same:
#     --build-arg BASE=python:3.12-slim
ARG BASE=hotfn/base:latest

FROM ${BASE} AS build
COPY hotfn/__init__.py /src/hotfn/__init__.py
COPY hotfn/fdk/ /src/hotfn/fdk/
RUN python3 /src/hotfn/fdk/bundle.py tree /out/opt/hotfn

FROM ${BASE}
COPY --from=build /out/ /
COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap
RUN python3 /opt/hotfn/hotfn/fdk/bundle.py link /opt/hotfn \
 && python3 -c "import hotfn.fdk; print(hotfn.fdk.FDK_VERSION)"
WORKDIR /function
LABEL io.hotfn.runtime=python
