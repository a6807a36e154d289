# hotfn/hotwrap: an image that only holds /hotwrap, one statically linked
# executable (Go, standard library only; source in hotwrap/, built for amd64 by
# scripts/build-hotwrap, which scripts/build-images runs first). Function images
# take it with
#     COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap
#     ENTRYPOINT ["/hotwrap"]
#     CMD node ./func.js
# and need nothing else at run time: any Linux image works (Alpine, -slim,
# distroless, scratch). See docs/hotwrap.md.
#
# Build from the repository root (no network needed):
#     scripts/build-hotwrap
#     docker build -f images/hotwrap.Dockerfile -t hotfn/hotwrap:latest .
FROM scratch
COPY build/hotwrap/amd64/hotwrap /hotwrap
