package cdf

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrResponseTooLarge is returned (wrapped) when a response body exceeds the configured limit.
var ErrResponseTooLarge = errors.New("cdf: response body too large")

// APIError is a non-2xx answer from CDF (or from the storage host serving a download URL).
// CDF's envelope is {"error":{"code":400,"message":"...","missing":[...],"duplicated":[...]}};
// a plain-string "error" and non-JSON bodies are understood too, then Message holds the text.
type APIError struct {
	Status     int               // HTTP status of the response
	Code       int               // error.code of the envelope (equals Status for CDF; 0 if absent)
	Message    string            // error.message, or the body's text when it had no envelope
	RequestID  string            // the x-request-id response header, for CDF support
	Missing    []json.RawMessage // error.missing: identifiers that were not found
	Duplicated []json.RawMessage // error.duplicated: identifiers given more than once
	// Extra holds other keys of the error object, which some CDF services add.
	Extra map[string]json.RawMessage
	// AutoRetryable is true when CDF marked the response with cdf-is-auto-retryable: true.
	AutoRetryable bool
	// RetryAfter is the wait a Retry-After header asked for (0 if absent; CDF does not send it).
	RetryAfter time.Duration
	Op         string // what the client was doing, e.g. "list files"
	Method     string // HTTP method of the request
	Path       string // URL path of the request (no query: download URLs carry signatures)
}

// Error formats the error like the official SDKs: message | code | X-Request-ID.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("cdf: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	msg := e.Message
	if msg == "" {
		msg = statusText(e.Status)
	}
	fmt.Fprintf(&b, "%s | code: %d", msg, e.Status)
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, " | missing: %s", joinRaw(e.Missing))
	}
	if len(e.Duplicated) > 0 {
		fmt.Fprintf(&b, " | duplicated: %s", joinRaw(e.Duplicated))
	}
	if e.Method != "" {
		fmt.Fprintf(&b, " | %s %s", e.Method, e.Path)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " | X-Request-ID: %s", e.RequestID)
	}
	return b.String()
}

func joinRaw(rs []json.RawMessage) string {
	const show = 5
	parts := make([]string, 0, min(len(rs), show)+1)
	for i, r := range rs {
		if i == show {
			parts = append(parts, fmt.Sprintf("… %d more", len(rs)-show))
			break
		}
		parts = append(parts, string(r))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// MissingIdentifiers decodes Missing as file identifiers ({"id"}, {"externalId"} or
// {"instanceId"}); entries of another shape are skipped.
func (e *APIError) MissingIdentifiers() []Identifier { return decodeIdentifiers(e.Missing) }

// DuplicatedIdentifiers decodes Duplicated like MissingIdentifiers.
func (e *APIError) DuplicatedIdentifiers() []Identifier { return decodeIdentifiers(e.Duplicated) }

func decodeIdentifiers(rs []json.RawMessage) []Identifier {
	var out []Identifier
	for _, r := range rs {
		var id Identifier
		if json.Unmarshal(r, &id) == nil && (id.ID != 0 || id.ExternalID != "" || id.InstanceID != nil) {
			out = append(out, id)
		}
	}
	return out
}

// Temporary reports whether the same request may succeed later: throttling (429) and
// gateway errors (502, 503, 504), or a response CDF marked as auto-retryable.
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return e.AutoRetryable
}

// StatusCode returns the HTTP status of err if it is (or wraps) an *APIError, else 0.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// statusText names an HTTP status, also one net/http has no text for (e.g. a proxy's 480).
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP status %d", code)
}

// newAPIError builds an *APIError from a non-2xx response whose body (possibly truncated)
// has been read.
func newAPIError(op, method, path string, resp *http.Response, body []byte) *APIError {
	e := &APIError{
		Status:        resp.StatusCode,
		RequestID:     resp.Header.Get("x-request-id"),
		AutoRetryable: strings.EqualFold(strings.TrimSpace(resp.Header.Get("cdf-is-auto-retryable")), "true"),
		RetryAfter:    parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Op:            op,
		Method:        method,
		Path:          path,
	}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 && string(env.Error) != "null" {
		var s string
		if json.Unmarshal(env.Error, &s) == nil {
			e.Message = s
			return e
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(env.Error, &obj) == nil {
			for k, v := range obj {
				switch k {
				case "code":
					_ = json.Unmarshal(v, &e.Code)
				case "message":
					if json.Unmarshal(v, &e.Message) != nil {
						e.Message = string(v)
					}
				case "missing":
					_ = json.Unmarshal(v, &e.Missing)
				case "duplicated":
					_ = json.Unmarshal(v, &e.Duplicated)
				default:
					if e.Extra == nil {
						e.Extra = map[string]json.RawMessage{}
					}
					e.Extra[k] = v
				}
			}
			return e
		}
	}
	// Not CDF's envelope (a proxy, a load balancer, a storage host): keep a readable excerpt.
	text := strings.TrimSpace(string(body))
	if len(text) > 512 {
		// Cut at a character boundary: half a character would garble the message.
		cut := 512
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	if text == "" {
		text = statusText(resp.StatusCode)
	}
	e.Message = text
	return e
}
