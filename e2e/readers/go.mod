module github.com/initbox/initbox/e2e/readers

go 1.26

require (
	github.com/compose-spec/compose-go/v2 v2.16.2
	github.com/docker/cli v29.10.0+incompatible
	github.com/joho/godotenv v1.5.1
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/sirupsen/logrus v1.10.1 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.33.0 // indirect
)
