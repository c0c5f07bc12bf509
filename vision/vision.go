// Package vision chooses what segments a prompt: CDF's vision API (deprecated, beta-only),
// Lasso's own engine running in process on CDF files, or any service that speaks CDF's segment
// contract. A deployment picks one with a Kind; the default, auto, uses CDF's API while it
// works and moves to the local engine for good once CDF answers that the API is gone.
//
// Every backend is a jobs.SegmentAPI for one user's task, so jobs follows them all alike, and
// each says which backend ran the job (jobs.Described) for the status line and provenance.
package vision

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lassoteam/lasso/jobs"
)

// Kinds of deployment (the -segment-backend setting).
const (
	KindAuto  = "auto"
	KindCDF   = "cdf"
	KindLocal = "local"
	KindURL   = "url:" // followed by the service's base URL
)

// ParseKind checks a -segment-backend value: auto, cdf, local, or url:<base URL>. For url: it
// returns the base URL too.
func ParseKind(s string) (kind, base string, err error) {
	switch s {
	case KindAuto, KindCDF, KindLocal:
		return s, "", nil
	}
	if rest, ok := strings.CutPrefix(s, KindURL); ok {
		if u, err := url.Parse(rest); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return "", "", fmt.Errorf("segment backend %q: url: needs an http(s) base URL, e.g. url:https://segment.example.com", s)
		}
		return KindURL, strings.TrimRight(rest, "/"), nil
	}
	return "", "", fmt.Errorf("segment backend %q: use auto, cdf, local or url:<base URL>", s)
}

// Config configures a Service.
type Config struct {
	// Kind is KindAuto, KindCDF, KindLocal or KindURL.
	Kind string
	// Local runs prompts in process; required for KindAuto and KindLocal.
	Local *Local
	// Remote is the segment API of the url: service, with its own credential; required for
	// KindURL. Users' tokens never reach it.
	Remote jobs.SegmentAPI
	// Settings remembers across restarts and replicas that CDF's API was found retired;
	// required for KindAuto.
	Settings Settings
	// Recheck is how long auto waits before it tries a retired API again. Default 6 h.
	Recheck time.Duration
	// OnChange, when set, is told each time auto finds the API retired or working again (for
	// the log).
	OnChange func(retired bool, reason string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Service hands out the deployment's segment backend for each task. It is safe for
// concurrent use.
type Service struct {
	kind   string
	local  *Local
	remote jobs.SegmentAPI
	auto   *auto
}

// New returns the Service of cfg. For KindAuto it reads what was remembered about CDF's API.
func New(ctx context.Context, cfg Config) (*Service, error) {
	s := &Service{kind: cfg.Kind, local: cfg.Local, remote: cfg.Remote}
	switch cfg.Kind {
	case KindCDF:
	case KindLocal:
		if cfg.Local == nil {
			return nil, fmt.Errorf("vision: the local backend needs an engine")
		}
	case KindURL:
		if cfg.Remote == nil {
			return nil, fmt.Errorf("vision: the url backend needs a service")
		}
	case KindAuto:
		if cfg.Local == nil || cfg.Settings == nil {
			return nil, fmt.Errorf("vision: auto needs the local engine and settings")
		}
		a, err := newAuto(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.auto = a
	default:
		return nil, fmt.Errorf("vision: unknown backend kind %q", cfg.Kind)
	}
	return s, nil
}

// For returns the backend for one task of user: visionAPI and files are the user's own CDF
// client's (c.Vision and c.Files). The result must serve that one task only.
func (s *Service) For(user string, visionAPI jobs.SegmentAPI, files FilesAPI) jobs.SegmentAPI {
	switch s.kind {
	case KindLocal:
		return s.local.For(user, files)
	case KindURL:
		return named{s.remote, jobs.BackendURL}
	case KindAuto:
		return s.auto.forTask(visionAPI, s.local.For(user, files))
	default:
		return named{visionAPI, jobs.BackendCDF}
	}
}

// Retired reports whether auto has found CDF's vision API retired, and why.
func (s *Service) Retired() (bool, string) {
	if s.auto == nil {
		return false, ""
	}
	return s.auto.state()
}

// named gives a SegmentAPI a backend name.
type named struct {
	jobs.SegmentAPI
	name string
}

// Backend implements jobs.Described.
func (n named) Backend() (string, string) { return n.name, "" }
