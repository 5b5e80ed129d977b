# MinIO for the e2e tests and the demo, built from its Go module by
# `make servers` (nothing is pulled). Not shipped.
FROM scratch
COPY rootfs/ /
ENV HOME=/tmp MINIO_BROWSER=off MINIO_UPDATE=off
ENTRYPOINT ["/minio"]
CMD ["server", "/data", "--address", ":9000", "--quiet"]
