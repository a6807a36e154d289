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
# BASE must have node (/hotwrap needs nothing else): the local hotfn/base by
# default; where images can be pulled, any official one, e.g.
#     --build-arg BASE=node:20-alpine
ARG BASE=hotfn/base:latest

FROM ${BASE}
COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap
RUN node --version && /hotwrap --version
WORKDIR /function
