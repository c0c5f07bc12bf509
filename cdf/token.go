package cdf

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
)

// TokenService is CDF's token inspection endpoint.
type TokenService struct{ c *Client }

// Inspect describes the caller's token: subject, projects and capabilities
// (GET /api/v1/token/inspect, which is not project-scoped).
func (s *TokenService) Inspect(ctx context.Context) (*TokenInspection, error) {
	var out TokenInspection
	err := s.c.do(ctx, call{
		op: "inspect token", method: http.MethodGet, url: s.c.base + "/api/v1/token/inspect",
		mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// HasCapability reports whether the token grants action (e.g. "READ") of acl (e.g.
// "filesAcl") in project, whatever the acl's scope.
func (t *TokenInspection) HasCapability(acl, action, project string) bool {
	for _, c := range t.Capabilities {
		raw, ok := c[acl]
		if !ok {
			continue
		}
		var a struct {
			Actions []string `json:"actions"`
		}
		if !decodeInto(raw, &a) || !slices.Contains(a.Actions, action) {
			continue
		}
		var ps struct {
			Projects    []string `json:"projects"`
			AllProjects any      `json:"allProjects"`
		}
		if p, ok := c["projectScope"]; ok && decodeInto(p, &ps) {
			if ps.AllProjects != nil || slices.Contains(ps.Projects, project) {
				return true
			}
			continue
		}
		return true
	}
	return false
}

// decodeInto converts a generically decoded JSON value into out.
func decodeInto(v any, out any) bool {
	b, err := json.Marshal(v)
	return err == nil && json.Unmarshal(b, out) == nil
}
