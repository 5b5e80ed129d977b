package source

import (
	"errors"
	"fmt"
	"net/url"
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
	// From the fragment:
	Key      string  // one value of the secret ("" = the whole secret)
	As       string  // the name of that value in a combined output
	Optional bool    // missing is not an error
	Default  *string // the value when missing (implies Optional)
	KV       int     // 1 or 2: skip KV version detection; 0 = detect
	Write    bool    // a write (POST) with the query as its fields
	Mount    string  // the secrets engine's mount, when detection is not allowed and it is not the first path element
}

// options lists the fragment's option names, for the error message.
const options = "key=, as=, optional, default=, kv=1|2, write, mount="

// ParseRef parses one reference.
func ParseRef(raw string) (Ref, error) {
	expanded, err := expand.URL(raw)
	if err != nil {
		return Ref{}, fmt.Errorf("reference %s: %w", redact.URLString(raw), err)
	}
	r := Ref{Raw: expanded, Display: redact.URLString(expanded)}
	u, err := url.Parse(expanded)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return r, fmt.Errorf("reference %s: %v", r.Display, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return r, fmt.Errorf("reference %s: write it as vault://MOUNT/PATH[#key] or s3://BUCKET/KEY", r.Display)
	}
	frag := u.Fragment
	u.Fragment, u.RawFragment = "", ""
	r.URL = u
	r.Display = redact.URL(u)
	if frag != "" {
		r.Display += "#" + frag
	}
	for _, item := range strings.Split(frag, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, hasValue := strings.Cut(item, "=")
		switch {
		case k == "key" && hasValue:
			r.Key = v
		case k == "as" && hasValue:
			r.As = v
		case k == "optional" && !hasValue:
			r.Optional = true
		case k == "default" && hasValue:
			r.Default, r.Optional = &v, true
		case k == "kv" && hasValue:
			if v != "1" && v != "2" {
				return r, fmt.Errorf("reference %s: #kv=%s: use 1 or 2", r.Display, v)
			}
			r.KV = int(v[0] - '0')
		case k == "write" && !hasValue:
			r.Write = true
		case k == "mount" && hasValue:
			r.Mount = strings.Trim(v, "/")
		case !hasValue:
			if r.Key != "" {
				return r, fmt.Errorf("reference %s: two keys (%q and %q); one reference reads one key or the whole secret", r.Display, r.Key, k)
			}
			r.Key = k // the short form: vault://secret/app#password
		default:
			return r, fmt.Errorf("reference %s: unknown option #%s; options are %s", r.Display, k, options)
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
