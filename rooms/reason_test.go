package rooms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/lassoteam/lasso/cdf"
)

// TestReason: what a failed write tells people is CDF's own words, not the client's plumbing.
func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&cdf.APIError{Status: 400, Message: "Invalid label", Op: "create annotations", RequestID: "r-1", Path: "/api/v1/x"}, "CDF answered 400: Invalid label"},
		{&cdf.APIError{Status: 503}, "CDF answered 503: Service Unavailable"},
		{fmt.Errorf("cdf: create annotations: %w", context.DeadlineExceeded), "CDF did not answer in time"},
		{fmt.Errorf("post: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), "CDF could not be reached, or the connection dropped"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "CDF could not be reached, or the connection dropped"},
		{errors.New("something else"), "something else"},
	} {
		if got := reason(c.err); got != c.want {
			t.Errorf("reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
