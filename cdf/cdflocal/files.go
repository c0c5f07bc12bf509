package cdflocal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/segment"
)

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER (2^53 - 1): ids stay below it so
// browser and Node clients keep them exact, as CDF's do.
const maxSafeInteger = 1<<53 - 1

type fileEntry struct {
	meta    cdf.File
	abs     string
	size    int64
	modTime time.Time
}

type fileIndex struct {
	list  []*fileEntry // ordered by externalId (the relative path)
	byID  map[int64]*fileEntry
	byExt map[string]*fileEntry
	byIns map[cdf.InstanceID]*fileEntry
}

var mimeTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
	".txt": "text/plain", ".json": "application/json", ".pdf": "application/pdf",
	".csv": "text/csv", ".md": "text/markdown",
}

func mimeTypeOf(name string) string {
	if m, ok := mimeTypes[strings.ToLower(filepath.Ext(name))]; ok {
		return m
	}
	return "application/octet-stream"
}

// fileID derives a file's id from its relative path: stable across restarts, positive and
// below 2^53. salt resolves the (unlikely) collisions deterministically.
func fileID(rel string, salt int) int64 {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d", rel, salt)))
	id := int64(binary.BigEndian.Uint64(h[:8]) & maxSafeInteger)
	if id == 0 {
		id = 1
	}
	return id
}

// fileMetadata describes a file as an upload pipeline would: its size in bytes and, for
// images, the pixel size read from the header (the pixels are not decoded), upright.
func fileMetadata(path string, size int64, mimeType string) map[string]string {
	meta := map[string]string{"bytes": strconv.FormatInt(size, 10)}
	if mimeType != "image/jpeg" && mimeType != "image/png" {
		return meta
	}
	f, err := os.Open(path)
	if err != nil {
		return meta
	}
	defer f.Close()
	// Upright, as a browser shows the photo (a camera's EXIF orientation may turn it).
	if size, err := segment.MeasureImage(f); err == nil {
		w, h := size.UprightSize()
		meta["width"], meta["height"] = strconv.Itoa(w), strconv.Itoa(h)
	}
	return meta
}

func scanFiles(cfg Config) (*fileIndex, error) {
	root := cfg.ImagesDir
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("cdflocal: images folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("cdflocal: images folder %s is not a directory", root)
	}
	idx := &fileIndex{byID: map[int64]*fileEntry{}, byExt: map[string]*fileEntry{}, byIns: map[cdf.InstanceID]*fileEntry{}}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		ms := info.ModTime().UnixMilli()
		e := &fileEntry{abs: p, size: info.Size(), modTime: info.ModTime(), meta: cdf.File{
			ExternalID:      rel,
			Name:            path.Base(rel),
			Directory:       "/" + strings.TrimPrefix(path.Dir("/"+rel), "/"),
			MimeType:        mimeTypeOf(rel),
			Uploaded:        true,
			UploadedTime:    ms,
			CreatedTime:     ms,
			LastUpdatedTime: ms,
			DataSetID:       cfg.DataSetID,
		}}
		e.meta.Metadata = fileMetadata(p, info.Size(), e.meta.MimeType)
		if cfg.InstanceSpace != "" {
			e.meta.InstanceID = &cdf.InstanceID{Space: cfg.InstanceSpace, ExternalID: rel}
		}
		idx.list = append(idx.list, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cdflocal: scan %s: %w", root, err)
	}
	sort.Slice(idx.list, func(i, j int) bool { return idx.list[i].meta.ExternalID < idx.list[j].meta.ExternalID })
	for _, e := range idx.list {
		for salt := 0; ; salt++ {
			id := fileID(e.meta.ExternalID, salt)
			if _, taken := idx.byID[id]; !taken {
				e.meta.ID = id
				break
			}
		}
		idx.byID[e.meta.ID] = e
		idx.byExt[e.meta.ExternalID] = e
		if e.meta.InstanceID != nil {
			idx.byIns[*e.meta.InstanceID] = e
		}
	}
	return idx, nil
}

// identIn is an identifier as a client sends it: exactly one form must be present.
type identIn struct {
	ID         *int64      `json:"id"`
	ExternalID *string     `json:"externalId"`
	InstanceID *instanceIn `json:"instanceId"`
}

type instanceIn struct {
	Space      *string `json:"space"`
	ExternalID *string `json:"externalId"`
}

// echo returns the identifier in the form it was given, for "missing"/"duplicated" and
// download-link items.
func (i identIn) echo() map[string]any {
	switch {
	case i.ID != nil:
		return map[string]any{"id": *i.ID}
	case i.ExternalID != nil:
		return map[string]any{"externalId": *i.ExternalID}
	default:
		return map[string]any{"instanceId": map[string]any{"space": *i.InstanceID.Space, "externalId": *i.InstanceID.ExternalID}}
	}
}

func (i identIn) key() string {
	b, _ := json.Marshal(i.echo())
	return string(b)
}

func validateIdent(i identIn, where string) error {
	n := 0
	if i.ID != nil {
		n++
		if *i.ID < 1 || *i.ID > maxSafeInteger {
			return badRequest("%s: id must be between 1 and %d", where, int64(maxSafeInteger))
		}
	}
	if i.ExternalID != nil {
		n++
		if l := len(*i.ExternalID); l < 1 || l > 255 {
			return badRequest("%s: externalId must be 1..255 characters", where)
		}
	}
	if i.InstanceID != nil {
		n++
		if i.InstanceID.Space == nil || i.InstanceID.ExternalID == nil || *i.InstanceID.Space == "" || *i.InstanceID.ExternalID == "" {
			return badRequest("%s: instanceId needs space and externalId", where)
		}
	}
	if n != 1 {
		return badRequest("%s: give exactly one of id, externalId or instanceId", where)
	}
	return nil
}

func (x *fileIndex) lookup(i identIn) *fileEntry {
	switch {
	case i.ID != nil:
		return x.byID[*i.ID]
	case i.ExternalID != nil:
		return x.byExt[*i.ExternalID]
	case i.InstanceID != nil:
		return x.byIns[cdf.InstanceID{Space: *i.InstanceID.Space, ExternalID: *i.InstanceID.ExternalID}]
	}
	return nil
}

// resolve validates and looks up a batch of identifiers, in order. Duplicates always give
// 400 with "duplicated"; unknown ones give 400 with "missing" unless ignoreUnknown.
func (x *fileIndex) resolve(items []identIn, max int, ignoreUnknown bool) ([]*fileEntry, []identIn, error) {
	if len(items) < 1 || len(items) > max {
		return nil, nil, badRequest("items: size must be between 1 and %d, got %d", max, len(items))
	}
	seen := map[string]bool{}
	var dup, missing []any
	var out []*fileEntry
	var found []identIn
	for n, it := range items {
		if err := validateIdent(it, fmt.Sprintf("items[%d]", n)); err != nil {
			return nil, nil, err
		}
		k := it.key()
		if seen[k] {
			dup = append(dup, it.echo())
			continue
		}
		seen[k] = true
		e := x.lookup(it)
		if e == nil {
			missing = append(missing, it.echo())
			continue
		}
		out = append(out, e)
		found = append(found, it)
	}
	if len(dup) > 0 {
		return nil, nil, &apiError{status: http.StatusBadRequest, msg: "Duplicate identifiers in request", duplicated: dup}
	}
	if len(missing) > 0 && !ignoreUnknown {
		return nil, nil, &apiError{status: http.StatusBadRequest, msg: "Files ids not found", missing: missing}
	}
	return out, found, nil
}

// timeRange is CDF's {min, max} filter on epoch milliseconds, both inclusive.
type timeRange struct {
	Min *int64 `json:"min"`
	Max *int64 `json:"max"`
}

func (t *timeRange) match(v int64, present bool) bool {
	if t == nil {
		return true
	}
	if !present {
		return false
	}
	return (t.Min == nil || v >= *t.Min) && (t.Max == nil || v <= *t.Max)
}

// fileFilter is POST /files/list's filter. Fields the stand-in's files never carry (assets,
// labels, metadata, ...) are accepted; a non-empty one matches nothing.
type fileFilter struct {
	Name               *string         `json:"name"`
	DirectoryPrefix    *string         `json:"directoryPrefix"`
	MimeType           *string         `json:"mimeType"`
	ExternalIDPrefix   *string         `json:"externalIdPrefix"`
	Uploaded           *bool           `json:"uploaded"`
	DataSetIDs         []identIn       `json:"dataSetIds"`
	CreatedTime        *timeRange      `json:"createdTime"`
	LastUpdatedTime    *timeRange      `json:"lastUpdatedTime"`
	UploadedTime       *timeRange      `json:"uploadedTime"`
	SourceCreatedTime  *timeRange      `json:"sourceCreatedTime"`
	SourceModifiedTime *timeRange      `json:"sourceModifiedTime"`
	Source             *string         `json:"source"`
	Metadata           json.RawMessage `json:"metadata"`
	AssetIDs           json.RawMessage `json:"assetIds"`
	AssetExternalIDs   json.RawMessage `json:"assetExternalIds"`
	RootAssetIDs       json.RawMessage `json:"rootAssetIds"`
	AssetSubtreeIDs    json.RawMessage `json:"assetSubtreeIds"`
	Labels             json.RawMessage `json:"labels"`
	GeoLocation        json.RawMessage `json:"geoLocation"`
	SecurityCategories json.RawMessage `json:"securityCategories"`
}

func emptyRaw(r json.RawMessage) bool {
	s := strings.TrimSpace(string(r))
	return s == "" || s == "null" || s == "{}" || s == "[]"
}

func (f *fileFilter) validate(s *Server) error {
	if f.Name != nil && len(*f.Name) > 256 {
		return badRequest("filter.name: at most 256 characters")
	}
	if f.DirectoryPrefix != nil && len(*f.DirectoryPrefix) > 512 {
		return badRequest("filter.directoryPrefix: at most 512 characters")
	}
	if f.ExternalIDPrefix != nil && len(*f.ExternalIDPrefix) > 255 {
		return badRequest("filter.externalIdPrefix: at most 255 characters")
	}
	if len(f.DataSetIDs) > 100 {
		return badRequest("filter.dataSetIds: at most 100 items")
	}
	for n, d := range f.DataSetIDs {
		if d.InstanceID != nil {
			return badRequest("filter.dataSetIds[%d]: give id or externalId", n)
		}
		if err := validateIdent(d, fmt.Sprintf("filter.dataSetIds[%d]", n)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileFilter) match(s *Server, e *fileEntry) bool {
	m := &e.meta
	if f.Name != nil && m.Name != *f.Name {
		return false
	}
	if f.DirectoryPrefix != nil && !strings.HasPrefix(m.Directory, *f.DirectoryPrefix) {
		return false
	}
	if f.MimeType != nil && m.MimeType != *f.MimeType {
		return false
	}
	if f.ExternalIDPrefix != nil && !strings.HasPrefix(m.ExternalID, *f.ExternalIDPrefix) {
		return false
	}
	if f.Uploaded != nil && m.Uploaded != *f.Uploaded {
		return false
	}
	if f.Source != nil && m.Source != *f.Source {
		return false
	}
	if f.DataSetIDs != nil {
		ok := false
		for _, d := range f.DataSetIDs {
			if s.cfg.DataSetID != 0 && ((d.ID != nil && *d.ID == s.cfg.DataSetID) ||
				(d.ExternalID != nil && s.cfg.DataSetExternalID != "" && *d.ExternalID == s.cfg.DataSetExternalID)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if !f.CreatedTime.match(m.CreatedTime, true) || !f.LastUpdatedTime.match(m.LastUpdatedTime, true) ||
		!f.UploadedTime.match(m.UploadedTime, m.Uploaded) ||
		!f.SourceCreatedTime.match(0, false) || !f.SourceModifiedTime.match(0, false) {
		return false
	}
	for _, r := range []json.RawMessage{f.Metadata, f.AssetIDs, f.AssetExternalIDs, f.RootAssetIDs, f.AssetSubtreeIDs, f.Labels, f.GeoLocation, f.SecurityCategories} {
		if !emptyRaw(r) {
			return false
		}
	}
	return true
}

func (s *Server) filter(f *fileFilter) []*fileEntry {
	var out []*fileEntry
	for _, e := range s.files.list {
		if f.match(s, e) {
			out = append(out, e)
		}
	}
	return out
}

func parseLimit(limit *int, def, max int) (int, error) {
	if limit == nil {
		return def, nil
	}
	if *limit < 1 || *limit > max {
		return 0, badRequest("limit must be between 1 and %d, got %d", max, *limit)
	}
	return *limit, nil
}

// cursor is the opaque paging token: base64 of the next offset (files) or of the last id
// returned (annotations, which change between pages) and a hash of the other parameters, so
// a cursor used with changed parameters is refused.
type cursor struct {
	Offset int    `json:"o"`
	After  int64  `json:"a,omitempty"`
	Params uint64 `json:"p"`
}

func paramsHash(v any) uint64 {
	b, _ := json.Marshal(v)
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func (s *Server) encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	m := hmac.New(sha256.New, s.key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(append(m.Sum(nil)[:8], b...))
}

func (s *Server) decodeCursor(str string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(str)
	var c cursor
	if err != nil || len(raw) < 9 {
		return c, badRequest("Invalid cursor")
	}
	m := hmac.New(sha256.New, s.key)
	m.Write(raw[8:])
	if !hmac.Equal(m.Sum(nil)[:8], raw[:8]) || json.Unmarshal(raw[8:], &c) != nil || c.Offset < 0 {
		return c, badRequest("Invalid cursor")
	}
	return c, nil
}

type listRequest struct {
	Filter    fileFilter `json:"filter"`
	Limit     *int       `json:"limit"`
	Cursor    *string    `json:"cursor"`
	Partition *string    `json:"partition"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	var req listRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	limit, err := parseLimit(req.Limit, DefaultListLimit, MaxListLimit)
	if err != nil {
		return err
	}
	if err := req.Filter.validate(s); err != nil {
		return err
	}
	matched := s.filter(&req.Filter)
	if req.Partition != nil {
		m, n, err := parsePartition(*req.Partition)
		if err != nil {
			return err
		}
		var part []*fileEntry
		for i, e := range matched {
			if i%n == m-1 {
				part = append(part, e)
			}
		}
		matched = part
	}
	ph := paramsHash(struct {
		F fileFilter
		L int
		P *string
	}{req.Filter, limit, req.Partition})
	offset := 0
	if req.Cursor != nil && *req.Cursor != "" {
		c, err := s.decodeCursor(*req.Cursor)
		if err != nil {
			return err
		}
		if c.Params != ph {
			return badRequest("Invalid cursor: the filter, limit and partition must stay the same across pages")
		}
		offset = c.Offset
	}
	items := []cdf.File{}
	end := min(offset+limit, len(matched))
	for i := offset; i < end; i++ {
		items = append(items, matched[i].meta)
	}
	resp := map[string]any{"items": items}
	if end < len(matched) {
		resp["nextCursor"] = s.encodeCursor(cursor{Offset: end, Params: ph})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func parsePartition(p string) (int, int, error) {
	a, b, ok := strings.Cut(p, "/")
	m, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > 10 || m < 1 || m > n {
		return 0, 0, badRequest("partition must look like m/n with 1 <= m <= n <= 10, got %q", p)
	}
	return m, n, nil
}

type searchRequest struct {
	Filter fileFilter `json:"filter"`
	Search *struct {
		Name  *string `json:"name"`
		Query *string `json:"query"`
	} `json:"search"`
	Limit *int `json:"limit"`
}

// nameScore ranks how well name matches q (case-insensitive): exact 4, prefix 3, substring
// 2, every word of q a substring 1, no match 0.
func nameScore(name, q string) int {
	n, q := strings.ToLower(name), strings.ToLower(strings.TrimSpace(q))
	switch {
	case q == "":
		return 1
	case n == q:
		return 4
	case strings.HasPrefix(n, q):
		return 3
	case strings.Contains(n, q):
		return 2
	}
	words := strings.Fields(q)
	for _, wd := range words {
		if !strings.Contains(n, wd) {
			return 0
		}
	}
	if len(words) > 0 {
		return 1
	}
	return 0
}

func (s *Server) searchFiles(w http.ResponseWriter, r *http.Request) error {
	var req searchRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	limit, err := parseLimit(req.Limit, DefaultListLimit, MaxListLimit)
	if err != nil {
		return err
	}
	if err := req.Filter.validate(s); err != nil {
		return err
	}
	var q string
	if req.Search != nil {
		if req.Search.Name != nil {
			q = *req.Search.Name
		} else if req.Search.Query != nil {
			q = *req.Search.Query
		}
	}
	type hit struct {
		e     *fileEntry
		score int
	}
	var hits []hit
	for _, e := range s.filter(&req.Filter) {
		if sc := nameScore(e.meta.Name, q); sc > 0 {
			hits = append(hits, hit{e, sc})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	items := []cdf.File{}
	for i := 0; i < len(hits) && i < limit; i++ {
		items = append(items, hits[i].e.meta)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

type byIDsRequest struct {
	Items            []identIn `json:"items"`
	IgnoreUnknownIDs bool      `json:"ignoreUnknownIds"`
}

func (s *Server) filesByIDs(w http.ResponseWriter, r *http.Request) error {
	var req byIDsRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	found, _, err := s.files.resolve(req.Items, MaxByIDs, req.IgnoreUnknownIDs)
	if err != nil {
		return err
	}
	items := make([]cdf.File, 0, len(found))
	for _, e := range found {
		items = append(items, e.meta)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) retrieveFile(w http.ResponseWriter, idStr string) error {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id < 1 || id > maxSafeInteger {
		return badRequest("Invalid file id %q: expected an integer between 1 and %d", idStr, int64(maxSafeInteger))
	}
	e := s.files.byID[id]
	if e == nil {
		return &apiError{status: http.StatusBadRequest, msg: "Files ids not found", missing: []any{map[string]any{"id": id}}}
	}
	writeJSON(w, http.StatusOK, e.meta)
	return nil
}

type downloadLinkRequest struct {
	Items []identIn `json:"items"`
}

func (s *Server) downloadLinks(w http.ResponseWriter, r *http.Request) error {
	ttl := DownloadLinkTTL
	if v := r.URL.Query().Get("extendedExpiration"); v != "" {
		ext, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("extendedExpiration must be true or false, got %q", v)
		}
		if ext {
			ttl = ExtendedDownloadLinkTTL
		}
	}
	var req downloadLinkRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	found, given, err := s.files.resolve(req.Items, MaxDownloadLinks, false)
	if err != nil {
		return err
	}
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	exp := s.cfg.Now().Add(ttl).UnixMilli()
	items := make([]map[string]any, 0, len(found))
	for n, e := range found {
		it := given[n].echo()
		it["downloadUrl"] = fmt.Sprintf("%s%s%d?expires=%d&signature=%s", base, downloadPrefix, e.meta.ID, exp, s.sign(e.meta.ID, exp))
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// serveDownload serves a pre-signed download URL: no bearer, a valid signature, not expired.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, idStr string) error {
	if err := allow(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	id, err1 := strconv.ParseInt(idStr, 10, 64)
	exp, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(q.Get("signature")), []byte(s.sign(id, exp))) {
		return errf(http.StatusForbidden, "Invalid download link signature")
	}
	if s.cfg.Now().UnixMilli() >= exp {
		return errf(http.StatusForbidden, "Download link expired: request a new one with /files/downloadlink")
	}
	e := s.files.byID[id]
	if e == nil {
		return errf(http.StatusNotFound, "File %d no longer exists", id)
	}
	f, err := os.Open(e.abs)
	if err != nil {
		return errf(http.StatusNotFound, "File %d cannot be read", id)
	}
	defer f.Close()
	w.Header().Set("Content-Type", e.meta.MimeType)
	http.ServeContent(w, r, "", e.modTime, f)
	return nil
}
