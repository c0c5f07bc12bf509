package cdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// MaxFileListLimit is the largest page of POST /files/list.
const MaxFileListLimit = 1000

// FilesService is CDF's Files API.
type FilesService struct{ c *Client }

// ListOptions pages a list call. Limit 0 means the endpoint's default (files 100,
// annotations 25); Cursor is the NextCursor of the previous page, empty for the first.
type ListOptions struct {
	Limit  int
	Cursor string
}

type fileListRequest struct {
	Filter FileFilter `json:"filter"`
	Limit  int        `json:"limit,omitempty"`
	Cursor string     `json:"cursor,omitempty"`
}

// List returns one page of the files matching filter (POST /files/list). Every page of one
// listing must use the same filter and limit.
func (s *FilesService) List(ctx context.Context, filter FileFilter, opts ListOptions) (*FileList, error) {
	var out FileList
	err := s.c.do(ctx, call{
		op: "list files", method: http.MethodPost, url: s.c.projectURL("/files/list"),
		body: fileListRequest{Filter: filter, Limit: opts.Limit, Cursor: opts.Cursor},
		mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Directories returns the distinct directories of the image files filter matches, sorted,
// listing /files/list a page of 1000 at a time, at most maxFiles files; truncated says that
// more files were left unread. CDF has no endpoint that lists directories.
func (s *FilesService) Directories(ctx context.Context, filter FileFilter, maxFiles int) (dirs []string, truncated bool, err error) {
	seen := map[string]bool{}
	cursor := ""
	for read := 0; ; {
		page, err := s.List(ctx, filter, ListOptions{Limit: MaxFileListLimit, Cursor: cursor})
		if err != nil {
			return nil, false, err
		}
		for i := range page.Items {
			if f := &page.Items[i]; f.Directory != "" && f.IsImage() && !seen[f.Directory] {
				seen[f.Directory] = true
				dirs = append(dirs, f.Directory)
			}
		}
		read += len(page.Items)
		if page.NextCursor == "" {
			break
		}
		if read >= maxFiles {
			truncated = true
			break
		}
		cursor = page.NextCursor
	}
	slices.Sort(dirs)
	return dirs, truncated, nil
}

type fileSearch struct {
	Name string `json:"name,omitempty"`
}

type fileSearchRequest struct {
	Filter FileFilter  `json:"filter"`
	Search *fileSearch `json:"search,omitempty"`
	Limit  int         `json:"limit,omitempty"`
}

type fileItems struct {
	Items []File `json:"items"`
}

// Search returns up to limit files matching filter whose name matches nameQuery, best match
// first (POST /files/search). An empty nameQuery only filters; limit 0 means CDF's default (100).
func (s *FilesService) Search(ctx context.Context, filter FileFilter, nameQuery string, limit int) ([]File, error) {
	req := fileSearchRequest{Filter: filter, Limit: limit}
	if nameQuery != "" {
		req.Search = &fileSearch{Name: nameQuery}
	}
	var out fileItems
	err := s.c.do(ctx, call{
		op: "search files", method: http.MethodPost, url: s.c.projectURL("/files/search"),
		body: req, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

type byIDsRequest struct {
	Items            []Identifier `json:"items"`
	IgnoreUnknownIDs bool         `json:"ignoreUnknownIds"`
}

// ByIDs returns the files named by ids, in the same order (POST /files/byids). Unknown ids give
// an *APIError (400) listing them in Missing, unless ignoreUnknown is set, when they are left out.
func (s *FilesService) ByIDs(ctx context.Context, ids []Identifier, ignoreUnknown bool) ([]File, error) {
	var out fileItems
	err := s.c.do(ctx, call{
		op: "retrieve files", method: http.MethodPost, url: s.c.projectURL("/files/byids"),
		body: byIDsRequest{Items: ids, IgnoreUnknownIDs: ignoreUnknown}, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Retrieve returns one file by internal id (GET /files/{id}).
func (s *FilesService) Retrieve(ctx context.Context, id int64) (*File, error) {
	var out File
	err := s.c.do(ctx, call{
		op: "retrieve file", method: http.MethodGet,
		url: s.c.projectURL("/files/" + strconv.FormatInt(id, 10)), mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

type downloadLinkRequest struct {
	Items []Identifier `json:"items"`
}

type downloadLinks struct {
	Items []DownloadLink `json:"items"`
}

// DownloadLinks returns pre-signed URLs for up to 100 files (POST /files/downloadlink). The
// URLs need no credentials and expire after 30 s, or after one hour when extended is set.
func (s *FilesService) DownloadLinks(ctx context.Context, ids []Identifier, extended bool) ([]DownloadLink, error) {
	u := s.c.projectURL("/files/downloadlink")
	if extended {
		u += "?extendedExpiration=true"
	}
	var out downloadLinks
	err := s.c.do(ctx, call{
		op: "get download links", method: http.MethodPost, url: u,
		body: downloadLinkRequest{Items: ids}, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Download returns the contents of a file and its content type. It gets a download link and
// fetches it with the plain download client, so no credentials reach the storage host. The
// body is limited to the client's maximum download size: reading past it fails with
// ErrResponseTooLarge. The caller closes the body.
func (s *FilesService) Download(ctx context.Context, id Identifier) (io.ReadCloser, string, error) {
	links, err := s.DownloadLinks(ctx, []Identifier{id}, false)
	if err != nil {
		return nil, "", err
	}
	if len(links) != 1 || links[0].DownloadURL == "" {
		return nil, "", fmt.Errorf("cdf: download file: expected 1 download link, got %d", len(links))
	}
	return s.fetch(ctx, links[0].DownloadURL)
}

// fetch GETs a pre-signed URL with retries on transport errors and gateway statuses.
func (s *FilesService) fetch(ctx context.Context, rawURL string) (io.ReadCloser, string, error) {
	c := s.c
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "", fmt.Errorf("cdf: download file: bad download URL %q", rawURL)
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, c.backoff(attempt-1, lastErr)); err != nil {
				return nil, "", fmt.Errorf("cdf: download file: %w (last error: %v)", err, lastErr)
			}
		}
		start := time.Now()
		body, ctype, err := s.fetchOnce(ctx, u)
		c.report("download file", http.MethodGet, attempt, start, err)
		if err == nil {
			return body, ctype, nil
		}
		lastErr = err
		if attempt+1 >= c.retry.MaxAttempts || !retryable(retryIdempotent, err) || ctx.Err() != nil {
			return nil, "", err
		}
	}
}

func (s *FilesService) fetchOnce(ctx context.Context, u *url.URL) (io.ReadCloser, string, error) {
	const op = "download file"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("cdf: %s: %w", op, err)
	}
	req.Header.Set("Accept", "*/*")
	resp, err := s.c.download.Do(req)
	if err != nil {
		return nil, "", &transportError{op: op, err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := readCapped(resp.Body, 64<<10)
		return nil, "", newAPIError(op, http.MethodGet, u.Path, resp, body)
	}
	limit := s.c.maxDownloadBytes
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, "", fmt.Errorf("cdf: %s: %w (%d bytes, limit %d)", op, ErrResponseTooLarge, resp.ContentLength, limit)
	}
	return &cappedBody{rc: resp.Body, left: limit}, resp.Header.Get("Content-Type"), nil
}

// cappedBody fails with ErrResponseTooLarge once more than its limit has been read.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), ErrResponseTooLarge
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// Icon returns a JPEG thumbnail of an image file and its content type (GET /files/icon).
// CDF answers 400 for files that are not images.
func (s *FilesService) Icon(ctx context.Context, id Identifier) (io.ReadCloser, string, error) {
	q := url.Values{}
	switch {
	case id.InstanceID != nil:
		q.Set("space", id.InstanceID.Space)
		q.Set("instanceExternalId", id.InstanceID.ExternalID)
	case id.ExternalID != "":
		q.Set("externalId", id.ExternalID)
	case id.ID != 0:
		q.Set("id", strconv.FormatInt(id.ID, 10))
	default:
		return nil, "", errors.New("cdf: get file icon: empty identifier")
	}
	body, hdr, err := s.c.doRaw(ctx, call{
		op: "get file icon", method: http.MethodGet, url: s.c.projectURL("/files/icon") + "?" + q.Encode(),
		mode: retryIdempotent, accept: "image/*",
	}, s.c.maxResponseBytes)
	if err != nil {
		return nil, "", err
	}
	return io.NopCloser(bytes.NewReader(body)), hdr.Get("Content-Type"), nil
}
