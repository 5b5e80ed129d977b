# The e2e helper (e2e/testbin): pause container and late listeners.
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/testbin"]
