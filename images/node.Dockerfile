# hotfn/node: the Node.js runtime for functions, with /hotwrap so that any
# Node program becomes a hot function:
#     FROM hotfn/node:latest
#     WORKDIR /function
#     COPY func.js /function/
#     ENTRYPOINT ["/hotwrap"]
#     CMD node ./func.js
# (For a cold, `format: default` function use ENTRYPOINT ["node", "./func.js"], or
# keep /hotwrap: it just runs the command when FN_FORMAT=default.)
#
# Build from the repository root (no network needed):
#     docker build -f images/node.Dockerfile -t hotfn/node:latest .
# BASE must have node and python3 (hotwrap runs on python3): the local hotfn/base
# by default; where images can be pulled, an official non-slim Debian one, e.g.
#     --build-arg BASE=node:20-bookworm
ARG BASE=hotfn/base:latest

FROM ${BASE} AS build
COPY hotfn/__init__.py /src/hotfn/__init__.py
COPY hotfn/fdk/ /src/hotfn/fdk/
COPY hotfn/hotwrap/ /src/hotfn/hotwrap/
RUN python3 /src/hotfn/hotwrap/bundle.py zipapp /hotwrap

FROM ${BASE}
COPY --from=build /hotwrap /hotwrap
RUN node --version && /hotwrap --version
WORKDIR /function
