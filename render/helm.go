package render

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// What a chart's templates see besides .Values, as `helm template` gives
// it offline, so that a chart's helpers (bitnami's common library among
// them) render: .Chart from --chart, .Release from --release and
// --namespace, .Capabilities (--kube-version, --api-versions), .Template.

// DefaultKubeVersion is helm template's, when no cluster is asked.
const DefaultKubeVersion = "v1.20.0"

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

// GitVersion is Version, as Helm has it.
func (k KubeVersion) GitVersion() string { return k.Version }

// String is Version.
func (k KubeVersion) String() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether the set holds an API version ("apps/v1") or a
// version and kind ("apps/v1/Deployment").
func (v VersionSet) Has(apiVersion string) bool { return slices.Contains(v, apiVersion) }

// HelmVersion is .Capabilities.HelmVersion.
type HelmVersion struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmVersion
}

// defaultAPIVersions are the API versions `helm template` (v3.22) reports
// without a cluster.
var defaultAPIVersions = strings.Fields(`v1 admissionregistration.k8s.io/v1 admissionregistration.k8s.io/v1alpha1
admissionregistration.k8s.io/v1beta1 internal.apiserver.k8s.io/v1alpha1 apps/v1 apps/v1beta1 apps/v1beta2
authentication.k8s.io/v1 authentication.k8s.io/v1alpha1 authentication.k8s.io/v1beta1 authorization.k8s.io/v1
authorization.k8s.io/v1beta1 autoscaling/v1 autoscaling/v2 batch/v1 batch/v1beta1 certificates.k8s.io/v1
certificates.k8s.io/v1beta1 certificates.k8s.io/v1alpha1 coordination.k8s.io/v1alpha2 coordination.k8s.io/v1beta1
coordination.k8s.io/v1 discovery.k8s.io/v1 discovery.k8s.io/v1beta1 events.k8s.io/v1 events.k8s.io/v1beta1
extensions/v1beta1 flowcontrol.apiserver.k8s.io/v1 flowcontrol.apiserver.k8s.io/v1beta1
flowcontrol.apiserver.k8s.io/v1beta2 flowcontrol.apiserver.k8s.io/v1beta3 lifecycle.k8s.io/v1alpha1
networking.k8s.io/v1 networking.k8s.io/v1beta1 node.k8s.io/v1 node.k8s.io/v1alpha1 node.k8s.io/v1beta1 policy/v1
policy/v1beta1 rbac.authorization.k8s.io/v1 rbac.authorization.k8s.io/v1beta1 rbac.authorization.k8s.io/v1alpha1
resource.k8s.io/v1 resource.k8s.io/v1beta2 resource.k8s.io/v1beta1 resource.k8s.io/v1alpha3
scheduling.k8s.io/v1alpha3 scheduling.k8s.io/v1beta1 scheduling.k8s.io/v1 storage.k8s.io/v1beta1 storage.k8s.io/v1
storage.k8s.io/v1alpha1 storagemigration.k8s.io/v1 storagemigration.k8s.io/v1beta1 apiextensions.k8s.io/v1beta1
apiextensions.k8s.io/v1`)

// capabilities builds .Capabilities from the flags.
func (c Config) capabilities() (Capabilities, error) {
	v := c.KubeVersion
	if v == "" {
		v = DefaultKubeVersion
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	major, rest, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	minor, _, _ := strings.Cut(rest, ".")
	if !ok || major == "" || minor == "" || strings.Trim(major+minor, "0123456789") != "" {
		return Capabilities{}, fmt.Errorf("--kube-version %q: want a version like v1.34.0", c.KubeVersion)
	}
	return Capabilities{
		KubeVersion: KubeVersion{Version: v, Major: major, Minor: minor},
		APIVersions: append(slices.Clone(defaultAPIVersions), c.APIVersions...),
		HelmVersion: HelmVersion{Version: "v3.22", GoVersion: "go1.26"},
	}, nil
}

// chartFields are Chart.yaml's fields under the names templates use
// (.Chart.AppVersion), with the zero value Helm gives one that is absent.
var chartFields = []struct {
	yaml, name string
	zero       any
}{
	{"apiVersion", "APIVersion", ""}, {"name", "Name", ""}, {"version", "Version", ""}, {"kubeVersion", "KubeVersion", ""},
	{"description", "Description", ""}, {"type", "Type", ""}, {"keywords", "Keywords", nil}, {"home", "Home", ""},
	{"sources", "Sources", nil}, {"dependencies", "Dependencies", nil}, {"maintainers", "Maintainers", nil},
	{"icon", "Icon", ""}, {"appVersion", "AppVersion", ""}, {"deprecated", "Deprecated", false},
	{"annotations", "Annotations", nil}, {"condition", "Condition", ""}, {"tags", "Tags", ""},
}

// loadChart reads --chart (a Chart.yaml or a chart's directory) as .Chart.
func loadChart(path string) (map[string]any, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "Chart.yaml")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--chart: %w", err)
	}
	var meta map[string]any
	if err := sigsyaml.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("--chart %s: %w", path, err)
	}
	chart := map[string]any{}
	for _, f := range chartFields {
		if v, ok := meta[f.yaml]; ok && v != nil {
			chart[f.name] = normalize(v)
		} else {
			chart[f.name] = f.zero
		}
	}
	if chart["Name"] == "" {
		return nil, fmt.Errorf("--chart %s: no name", path)
	}
	return chart, nil
}

// release is .Release, as `helm template NAME` makes it.
func (c Config) release() map[string]any {
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	return map[string]any{"Name": c.Release, "Namespace": ns, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1}
}
