# An application image that is NOT initbox, for the e2e tests and the demo:
# Debian's busybox-static with a link per applet. Built by `make images`.
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
ENTRYPOINT ["/bin/sh"]
