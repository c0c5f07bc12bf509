package auth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ServiceConfig is a service account for unattended use (OAuth2 client credentials): Lasso
// acts as itself, not as a user, so whatever the account's CDF groups allow, every request
// made with it is allowed. Use it for batch jobs, not for the interactive web app.
type ServiceConfig struct {
	// TokenURL is the provider's token endpoint, e.g.
	// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Scopes, e.g. https://{cluster}.cognitedata.com/.default for Entra ID.
	Scopes []string
	// Audience, when set, is sent as the "audience" parameter (Auth0 and similar need it to
	// issue a token whose aud matches the CDF project's configuration).
	Audience string
	// HTTPClient talks to the token endpoint (default: a client with a 30 s timeout).
	HTTPClient *http.Client
	// Leeway: fetch a new token this long before the current one expires (default 60 s).
	Leeway time.Duration
}

// ServiceTokenSource returns a token source for the service account. It fetches a token on
// first use and again shortly before each expires; it is safe for concurrent use. ctx is used
// for every fetch, so pass one that lives as long as the source (not a request's).
func ServiceTokenSource(ctx context.Context, cfg ServiceConfig) oauth2.TokenSource {
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.TokenURL,
		Scopes:       cfg.Scopes,
	}
	if cfg.Audience != "" {
		cc.EndpointParams = url.Values{"audience": {cfg.Audience}}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 60 * time.Second
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	// cc.Token fetches unconditionally; the reuse wrapper applies our leeway (the one inside
	// cc.TokenSource would apply oauth2's 10 s default).
	return oauth2.ReuseTokenSourceWithExpiry(nil, tokenFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) }), cfg.Leeway)
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }
