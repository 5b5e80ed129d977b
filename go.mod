module github.com/initbox/initbox

go 1.26.5

require (
	github.com/cenkalti/backoff/v4 v4.3.0
	golang.org/x/crypto/x509roots/fallback v0.0.0-20261030153154-30a33513ff6d
)
