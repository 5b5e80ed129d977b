//go:build e2e

package e2e

import (
	"testing"
)

// Three init containers seed one volume: data baked into an image, an
// archive on MinIO and a git repository; the main container (not initbox)
// lists and reads them, with the owners and modes asked for.
func TestSeedOneVolumeThreeWays(t *testing.T) {
	nw := NewNetwork(t)
	aws := minioService(t, nw)
	s3env := map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}
	for k, v := range aws {
		s3env[k] = v
	}
	data := map[string]string{"data": "/data"}
	st := RunPod(t, Pod{
		Name:    "app",
		Network: nw,
		Volumes: []string{"data"},
		InitContainers: []Container{
			{Name: "wait-minio", Image: images.initbox, Restricted: true, Args: []string{"wait", "http://minio:9000/minio/health/ready", "--timeout", "60s"}},
			{Name: "publish", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "-tgz", "models-v3.tar.gz", "artifacts",
				"models/labels.txt=cat\ndog\n", "models/run*=#!/bin/sh\n"}},
			// Root with only CAP_CHOWN, to hand the files to the app's user.
			{Name: "seed-image", Image: images.seeddata, Restricted: true, User: "0:0", CapAdd: []string{"CHOWN"}, VolumeMounts: data,
				Args: []string{"seed", "/seed-data", "/data/app", "--chown", "1000:1000"}},
			{Name: "seed-s3", Image: images.initbox, Restricted: true, Env: s3env, VolumeMounts: data,
				Args: []string{"seed", "s3://artifacts/models-v3.tar.gz", "/data/models", "--strip-components", "1", "--s3-endpoint", "http://minio:9000"}},
			{Name: "seed-git", Image: images.seeddata, Restricted: true, VolumeMounts: data,
				Args: []string{"seed", "git+file:///repo.git", "/data/site", "--git-ref", "v1", "--subdir", "public"}},
		},
		Containers: []Container{{Name: "main", Image: images.busybox, User: "1000:1000", VolumeMounts: data, Args: []string{"-c",
			"cd /data && for f in app/conf/app.yaml app/migrate.sh models/labels.txt models/run site/index.html; do " +
				"echo \"$f $(stat -L -c '%a %u:%g' $f) $(head -n 1 $f)\"; done"}}},
	})
	st.InitSucceeded(t)
	logsContain(t, "seed-git logs", st.Get(t, "seed-git").Logs, "msg=seeded", "digest=git:")
	logsContain(t, "main output", st.Get(t, "main").Logs,
		"app/conf/app.yaml 644 1000:1000 greeting: hello",
		"app/migrate.sh 755 1000:1000 #!/bin/sh",
		"models/labels.txt 644 65532:65532 cat",
		"models/run 755 65532:65532 #!/bin/sh",
		"site/index.html 644 65532:65532 <h1>from git</h1>")
}
