# HashiCorp Vault for the e2e tests, built from its Go module by
# `make servers` (nothing is pulled). Not shipped.
FROM scratch
COPY rootfs/ /
ENV HOME=/tmp
ENTRYPOINT ["/vault"]
CMD ["server", "-dev", "-dev-root-token-id=root", "-dev-listen-address=0.0.0.0:8200", "-dev-no-store-token"]
