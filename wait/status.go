package wait

import (
	"fmt"
	"strconv"
	"strings"
)

// statusSet is a parsed --status: codes, classes (2xx) and ranges (200-299).
type statusSet struct {
	ranges [][2]int
	spec   string
}

// parseStatus parses "200,204,3xx,400-404". An empty spec means 2xx.
func parseStatus(spec string) (statusSet, error) {
	if strings.TrimSpace(spec) == "" {
		spec = "2xx"
	}
	s := statusSet{spec: spec}
	for _, part := range strings.Split(spec, ",") {
		p := strings.ToLower(strings.TrimSpace(part))
		switch {
		case len(p) == 3 && strings.HasSuffix(p, "xx") && p[0] >= '1' && p[0] <= '5':
			lo := int(p[0]-'0') * 100
			s.ranges = append(s.ranges, [2]int{lo, lo + 99})
		case strings.Contains(p, "-"):
			a, b, _ := strings.Cut(p, "-")
			lo, err1 := statusCode(a)
			hi, err2 := statusCode(b)
			if err1 != nil || err2 != nil || lo > hi {
				return s, fmt.Errorf("%q: %q is not a range like 200-299", spec, part)
			}
			s.ranges = append(s.ranges, [2]int{lo, hi})
		default:
			c, err := statusCode(p)
			if err != nil {
				return s, fmt.Errorf("%q: %q is not a status code, class (2xx) or range (200-299)", spec, part)
			}
			s.ranges = append(s.ranges, [2]int{c, c})
		}
	}
	return s, nil
}

func statusCode(s string) (int, error) {
	c, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || c < 100 || c > 599 {
		return 0, fmt.Errorf("bad status code %q", s)
	}
	return c, nil
}

func (s statusSet) match(code int) bool {
	for _, r := range s.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

func (s statusSet) String() string { return s.spec }
