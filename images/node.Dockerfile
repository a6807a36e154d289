# hotfn/node: the Node.js runtime for functions, with Fn's Node FDK
# (@fnproject/fdk, pinned by images/node/package-lock.json) and /hotwrap.
#
# A hot function on the FDK (what `hotfn init --runtime node` writes; func.js
# calls fdk.handle(), `require('@fnproject/fdk')` finds the image's copy):
#     FROM hotfn/node:latest
#     WORKDIR /function
#     COPY func.js /function/
#     ENTRYPOINT ["node", "func.js"]
# Any Node program made hot with hotwrap (node started per call):
#     ENTRYPOINT ["/hotwrap"]
#     CMD node ./func.js
# (For a cold, `format: default` function use ENTRYPOINT ["node", "./func.js"], or
# keep /hotwrap: it just runs the command when FN_FORMAT=default.)
#
# The label io.hotfn.runtime=node (inherited by function images built FROM this
# one) lets the agent start an FDK function in a warm generic container of this
# image (images/node/generic.js) instead of a new container: see docs/coldstart.md.
#
# Build with scripts/build-images: it runs `npm ci` in images/node first (on the
# host: image builds have no network), then from the repository root
#     docker build -f images/node.Dockerfile -t hotfn/node:latest .
# BASE must have node: the local hotfn/base by default; where images can be
# pulled, any official one, e.g. --build-arg BASE=node:20-slim
ARG BASE=hotfn/base:latest

FROM ${BASE}
COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap
COPY images/node/node_modules/ /opt/hotfn/node/node_modules/
COPY images/node/generic.js images/node/package.json images/node/package-lock.json /opt/hotfn/node/
ENV NODE_PATH=/opt/hotfn/node/node_modules
RUN node --version && /hotwrap --version \
 && node -e "require('@fnproject/fdk')" \
 && node --check /opt/hotfn/node/generic.js
WORKDIR /function
LABEL io.hotfn.runtime=node
