# The e2e image for seed: the initbox binary plus data "baked into the
# image" (/seed-data) and a bare git repository (/repo.git). Not shipped.
FROM scratch
COPY rootfs/ /
USER 65532:65532
ENTRYPOINT ["/initbox"]
