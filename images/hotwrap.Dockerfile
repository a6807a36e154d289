# hotfn/hotwrap: an image that only holds /hotwrap, an executable Python zipapp
# (FDK server + hotwrap, standard library only). Function images take it with
#     COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap
#     ENTRYPOINT ["/hotwrap"]
#     CMD node ./func.js
# and need python3 >= 3.8 at run time (hotfn/base, python:*, node:* non-slim).
#
# Build from the repository root (no network needed):
#     docker build -f images/hotwrap.Dockerfile -t hotfn/hotwrap:latest .
# BASE is only the build stage (anything with python3), e.g.
#     --build-arg BASE=python:3.12-slim
ARG BASE=hotfn/base:latest

FROM ${BASE} AS build
COPY hotfn/__init__.py /src/hotfn/__init__.py
COPY hotfn/fdk/ /src/hotfn/fdk/
COPY hotfn/hotwrap/ /src/hotfn/hotwrap/
RUN python3 /src/hotfn/hotwrap/bundle.py zipapp /hotwrap && /hotwrap --version

FROM scratch
COPY --from=build /hotwrap /hotwrap
