# A PostgreSQL server for the e2e tests, built from Debian's postgresql
# package (binaries, their shared libraries, share files) by `make images`:
# nothing is pulled. Not shipped.
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
USER 999:999
ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]
