package source

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/initbox/initbox/internal/expand"
	"github.com/initbox/initbox/internal/redact"
)

// Ref is one parsed reference: SCHEME://LOCATION[?SOURCE-PARAMS][#OPTIONS].
// As in `wait`, the query belongs to the source (Vault's ?version=, a
// write's fields) and the fragment to initbox.
type Ref struct {
	Raw     string   // as given, ${VAR} expanded
	Display string   // redacted, safe to log
	URL     *url.URL // fragment removed
	// From the fragment, the options every source has:
	Key      string  // one value of the secret ("" = the whole secret)
	As       string  // the name of that value in a combined output
	Optional bool    // missing is not an error
	Default  *string // the value when missing (implies Optional)
	// Options are the source's own options from the fragment (its
	// Provider's RefOptions): name → value, "" for a bare name (#write).
	Options map[string]string
}

// commonOptions are the fragment's options every source has.
var commonOptions = []string{"key=", "as=", "optional", "default="}

// ParseRef parses one reference. Its scheme's provider says which options
// after # it has beyond the common ones; a bare word that is not an option
// is the key, as bank-vaults and vals write it (vault://secret/app#password).
func ParseRef(raw string) (Ref, error) {
	// The options are split before ${VAR} is replaced in them, each value
	// on its own: a variable's value cannot add an option
	// (DEFPW='x,key=user') or be cut at a comma.
	location, frag, _ := strings.Cut(raw, "#")
	expanded, err := expand.URL(location)
	if err != nil {
		return Ref{}, fmt.Errorf("reference %s: %w", redact.URLString(location), err)
	}
	r := Ref{Raw: expanded, Display: redact.URLString(expanded), Options: map[string]string{}}
	u, err := url.Parse(expanded)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return r, fmt.Errorf("reference %s: %v", r.Display, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return r, fmt.Errorf("reference %s: write it as SCHEME://LOCATION, e.g. vault://MOUNT/PATH#key or s3://BUCKET/KEY (this build fetches from %s)", r.Display, Schemes())
	}
	r.URL = u
	r.Display = redact.URL(u)
	p, ok := Lookup(u.Scheme)
	if !ok {
		return r, unknownScheme(r.Display, u.Scheme)
	}
	// The options as logs show them, a default's value hidden: a default is
	// a value, a secret like the one it stands for.
	var items, shown []string
	for _, item := range strings.Split(frag, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		items = append(items, item)
		if k, _, _ := strings.Cut(item, "="); k == "default" {
			item = "default=" + redact.Placeholder
		}
		shown = append(shown, item)
	}
	if len(shown) > 0 {
		r.Display += "#" + strings.Join(shown, ",")
	}
	// What the user wrote stays readable in every message, even where a
	// secret's value occurs in it (redact.Public says why).
	redact.Public(r.Display, redact.URL(u), u.Host, strings.Trim(u.Host+u.Path, "/"), strings.Trim(u.Path, "/"))
	for _, item := range items {
		k, v, hasValue := strings.Cut(item, "=")
		// Written %-escapes are decoded (#key=a%2Cb), then ${VAR} replaced:
		// a variable's value is taken as it is, and never printed.
		if v, err = url.PathUnescape(v); err != nil {
			return r, fmt.Errorf("reference %s: #%s: a bad %%-escape (write %% as %%25)", r.Display, k)
		}
		expandValue := expand.Plain
		if k == "default" {
			expandValue = expand.Secret
		}
		if v, err = expandValue(v); err != nil {
			return r, fmt.Errorf("reference %s: #%s: %w", r.Display, k, err)
		}
		if k == "default" {
			redact.Register(v)
		}
		spelled := k
		if hasValue {
			spelled += "="
		}
		switch {
		case spelled == "key=":
			r.Key = v
		case spelled == "as=":
			r.As = v
		case spelled == "optional":
			r.Optional = true
		case spelled == "default=":
			r.Default, r.Optional = &v, true
		case slices.Contains(p.RefOptions, spelled):
			r.Options[k] = v
		case !hasValue:
			if r.Key != "" {
				return r, fmt.Errorf("reference %s: two keys (%q and %q); one reference reads one key or the whole secret", r.Display, r.Key, k)
			}
			r.Key = k
		default:
			return r, fmt.Errorf("reference %s: unknown option #%s; %s references take %s", r.Display, k, u.Scheme,
				strings.Join(append(slices.Clone(commonOptions), p.RefOptions...), ", "))
		}
	}
	if r.As != "" && r.Key == "" {
		return r, fmt.Errorf("reference %s: #as= renames one key; add #key=", r.Display)
	}
	return r, nil
}

// Name is the name of a single-key reference's value in a combined output.
func (r Ref) Name() string {
	if r.As != "" {
		return r.As
	}
	return r.Key
}
