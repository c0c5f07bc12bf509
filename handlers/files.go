package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/views"
)

const (
	pageSize = 48
	// headerBytes is how much of an image is read to learn its size without decoding it.
	headerBytes = 1 << 20
)

// fileID parses the :id path parameter.
func fileID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, newProblem(http.StatusBadRequest, "%q is not a file id: it must be a positive whole number.", c.Param("id"))
	}
	return id, nil
}

// imageRoom is the room name the page asks for; userRoom is the hub room behind it. Until team
// rooms exist each user's image room is their own, so no user sees another's jobs.
func imageRoom(id int64) string { return "image:" + strconv.FormatInt(id, 10) }

func userRoom(u User, id int64) string { return ImageKey(u.ID, id) }

// ImageKey is the hub room of one user's page of image fileID outside rooms: their jobs and
// their writes are told there.
func ImageKey(userID string, fileID int64) string { return "user:" + userID + "/" + imageRoom(fileID) }

// openImage fetches a file's metadata with the request's user's client and checks that it is
// an image within the pixel limit. It returns that client for the calls that follow.
func (s *server) openImage(c echo.Context, id int64) (*cdf.Client, *cdf.File, error) {
	client, err := s.client(c)
	if err != nil {
		return nil, nil, err
	}
	ctx := c.Request().Context()
	f, err := client.Files.Retrieve(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !f.Uploaded {
		return nil, nil, newProblem(http.StatusConflict, "“%s” has no content yet: its upload has not finished.", f.Name)
	}
	if !f.IsImage() {
		return nil, nil, newProblem(http.StatusUnprocessableEntity, "“%s” is not a JPEG or PNG image; Lasso segments only those.", f.Name)
	}
	w, h, err := s.imageSize(ctx, client, f)
	if err != nil {
		return nil, nil, err
	}
	if int64(w)*int64(h) > s.MaxPixels {
		return nil, nil, &noPreview{newProblem(http.StatusUnprocessableEntity, "“%s” is %d×%d pixels (%.1f MP); the limit is %.1f MP.",
			f.Name, w, h, float64(w)*float64(h)/1e6, float64(s.MaxPixels)/1e6),
			fmt.Sprintf("Too large: %d×%d pixels (%.1f MP, the limit is %.1f MP).", w, h, float64(w)*float64(h)/1e6, float64(s.MaxPixels)/1e6)}
	}
	return client, f, nil
}

type sizeKey struct {
	id      int64
	updated int64
}

type imageDims struct{ w, h int }

// imageSize reads the image's size, upright, from its header (never decoding the pixels) and
// remembers it for this version of the file.
func (s *server) imageSize(ctx context.Context, client *cdf.Client, f *cdf.File) (int, int, error) {
	key := sizeKey{f.ID, f.LastUpdatedTime}
	if d, ok := s.sizes.Load(key); ok {
		return d.(imageDims).w, d.(imageDims).h, nil
	}
	body, _, err := client.Files.Download(ctx, cdf.ID(f.ID))
	if err != nil {
		return 0, 0, err
	}
	defer body.Close()
	size, err := segment.MeasureImage(io.LimitReader(body, headerBytes))
	if err != nil {
		why := strings.TrimPrefix(err.Error(), segment.ErrUnsupported.Error()+": ")
		return 0, 0, &noPreview{newProblem(http.StatusUnprocessableEntity, "“%s” could not be read as an image: %s.", f.Name, why),
			fmt.Sprintf("It cannot be read as an image: %s.", why)}
	}
	// The size as the browser shows it: a camera's EXIF orientation turns a portrait photo
	// stored landscape, and prompts and polygons are relative to what the user sees.
	w, h := size.UprightSize()
	s.sizes.Store(key, imageDims{w, h})
	return w, h, nil
}

// knownSize is the image size openImage learnt, or zeros.
func (s *server) knownSize(f *cdf.File) imageDims {
	d, _ := s.sizes.Load(sizeKey{f.ID, f.LastUpdatedTime})
	dims, _ := d.(imageDims)
	return dims
}

// browse shows the project's images as a grid of thumbnails, filtered by name and directory.
func (s *server) browse(c echo.Context) error {
	client, err := s.client(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.QueryParam("name"))
	dir := strings.TrimSpace(c.QueryParam("dir"))
	if len(name) > 256 || len(dir) > 512 {
		return newProblem(http.StatusBadRequest, "The filter is too long (name at most 256, directory at most 512 characters).")
	}
	uploaded := true
	filter := cdf.FileFilter{DirectoryPrefix: dir, Uploaded: &uploaded}
	page := views.BrowserPage{Layout: s.pageLayout(c, "Images"), Name: name, Dir: dir}
	if c.QueryParam("cursor") != "" {
		page.FirstHref = browseHref(name, dir, "")
	}

	var files []cdf.File
	if name != "" {
		files, err = client.Files.Search(ctx, filter, name, 1000)
	} else {
		var list *cdf.FileList
		list, err = client.Files.List(ctx, filter, cdf.ListOptions{Limit: pageSize, Cursor: c.QueryParam("cursor")})
		if list != nil {
			files = list.Items
			if list.NextCursor != "" {
				page.NextHref = browseHref(name, dir, list.NextCursor)
			}
		}
	}
	if cdf.StatusCode(err) == http.StatusBadRequest && c.QueryParam("cursor") != "" {
		return newProblem(http.StatusBadRequest, "This page link is no longer valid. Start again from the first page.")
	}
	if err != nil {
		return err
	}
	for i := range files {
		if f := &files[i]; f.IsImage() {
			page.Files = append(page.Files, fileCard(f))
		}
	}
	if page.Dirs, page.DirsTruncated, err = s.directories(c, client); err != nil {
		return err
	}
	if dir != "" && !slices.Contains(page.Dirs, dir) {
		// A prefix typed into the address stays chosen (Clip: the cached list is shared).
		page.Dirs = append(slices.Clip(page.Dirs), dir)
		slices.Sort(page.Dirs)
	}
	if len(page.Files) == 0 {
		page.Empty = "No images match this filter."
	}
	return s.render(c, http.StatusOK, views.Browser(page))
}

// maxDirectoryFiles bounds the files read to list a project's directories (20 requests).
const maxDirectoryFiles = 20 * cdf.MaxFileListLimit

// directories returns the directories of the project's images for the filter form, of the
// whole project and not of the page shown, read once a minute per login session (it reads
// the files' list; what one user may see is not what another may).
func (s *server) directories(c echo.Context, client *cdf.Client) ([]string, bool, error) {
	key := userOf(c).SessionID
	if e, ok := s.dirs.get(key, time.Now()); ok {
		return e.dirs, e.truncated, nil
	}
	uploaded := true
	dirs, truncated, err := client.Files.Directories(c.Request().Context(), cdf.FileFilter{Uploaded: &uploaded}, maxDirectoryFiles)
	if err != nil {
		return nil, false, err
	}
	// The root holds everything: "All directories" says it.
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return d == "/" })
	s.dirs.put(key, dirEntry{dirs: dirs, truncated: truncated, at: time.Now()})
	return dirs, truncated, nil
}

// dirCache holds directory lists by login session for dirTTL, at most dirCacheSize of them.
type dirCache struct {
	mu sync.Mutex
	m  map[string]dirEntry
}

type dirEntry struct {
	dirs      []string
	truncated bool
	at        time.Time
}

const (
	dirTTL       = time.Minute
	dirCacheSize = 1024
)

func (d *dirCache) get(key string, now time.Time) (dirEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[key]
	return e, ok && now.Sub(e.at) < dirTTL
}

func (d *dirCache) put(key string, e dirEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]dirEntry{}
	}
	if len(d.m) >= dirCacheSize {
		// Full: drop the expired entries, and others while there is still no room.
		for k, old := range d.m {
			if e.at.Sub(old.at) >= dirTTL || len(d.m) >= dirCacheSize {
				delete(d.m, k)
			}
		}
	}
	d.m[key] = e
}

func browseHref(name, dir, cursor string) string {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if dir != "" {
		q.Set("dir", dir)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

func fileCard(f *cdf.File) views.FileCard {
	card := views.FileCard{
		ID:        f.ID,
		Name:      f.Name,
		Directory: f.Directory,
		IconURL:   fmt.Sprintf("/files/%d/icon", f.ID),
		Href:      fmt.Sprintf("/images/%d", f.ID),
	}
	if w, h := f.Metadata["width"], f.Metadata["height"]; w != "" && h != "" {
		card.Size = w + "×" + h
	}
	if n, err := strconv.ParseInt(f.Metadata["bytes"], 10, 64); err == nil {
		card.Bytes = humanBytes(n)
	}
	return card
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+512)>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// annotate shows one image for prompting, with links to its neighbours in the same directory.
func (s *server) annotate(c echo.Context) error {
	id, err := fileID(c)
	if err != nil {
		return err
	}
	client, f, err := s.openImage(c, id)
	if err != nil {
		return err
	}
	page := s.imagePage(c, f)
	page.Room = imageRoom(f.ID)
	page.BackHref = browseHref("", f.Directory, "")
	page.PrevHref, page.NextHref = s.neighbours(c.Request().Context(), client, f)
	return s.render(c, http.StatusOK, views.Annotate(page))
}

// imagePage fills what every annotation page shows of its image; callers add navigation and,
// in a room, the room.
func (s *server) imagePage(c echo.Context, f *cdf.File) views.AnnotatePage {
	dims := s.knownSize(f)
	return views.AnnotatePage{
		Layout:   s.pageLayout(c, f.Name),
		FileID:   f.ID,
		Name:     f.Name,
		ImageURL: fmt.Sprintf("/files/%d/content", f.ID),
		Width:    dims.w,
		Height:   dims.h,
	}
}

// neighbours finds the previous and next image in the file's directory, by name. It is a
// convenience: when listing fails the page still works, without the links.
func (s *server) neighbours(ctx context.Context, client *cdf.Client, f *cdf.File) (prev, next string) {
	uploaded := true
	list, err := client.Files.List(ctx, cdf.FileFilter{DirectoryPrefix: f.Directory, Uploaded: &uploaded}, cdf.ListOptions{Limit: 1000})
	if err != nil {
		s.log.Warn("list neighbours", "file", f.ID, "err", err)
		return "", ""
	}
	var same []cdf.File
	for i := range list.Items {
		g := &list.Items[i]
		if g.Directory == f.Directory && g.IsImage() {
			same = append(same, *g)
		}
	}
	sort.Slice(same, func(i, j int) bool { return same[i].Name < same[j].Name })
	for i := range same {
		if same[i].ID != f.ID {
			continue
		}
		if i > 0 {
			prev = fmt.Sprintf("/images/%d", same[i-1].ID)
		}
		if i+1 < len(same) {
			next = fmt.Sprintf("/images/%d", same[i+1].ID)
		}
	}
	return prev, next
}

// icon proxies CDF's thumbnail: the browser never talks to CDF and never sees a token. A file
// CDF makes no thumbnail of (corrupt, too large) gets a "No preview" placeholder.
func (s *server) icon(c echo.Context) error {
	id, err := fileID(c)
	if err != nil {
		return err
	}
	client, err := s.client(c)
	if err != nil {
		return err
	}
	body, _, err := client.Files.Icon(c.Request().Context(), cdf.ID(id))
	if reason, ok := iconReason(err); ok {
		return s.placeholder(c, id, reason)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	c.Response().Header().Set("Cache-Control", "private, max-age=3600")
	return c.Stream(http.StatusOK, "image/jpeg", body)
}

// content proxies the image's bytes, fetched through a pre-signed download link. An image
// over the pixel limit, or unreadable, gets a "No preview" placeholder.
func (s *server) content(c echo.Context) error {
	id, err := fileID(c)
	if err != nil {
		return err
	}
	client, f, err := s.openImage(c, id)
	if reason, ok := previewReason(err); ok {
		return s.placeholder(c, id, reason)
	}
	if err != nil {
		return err
	}
	body, _, err := client.Files.Download(c.Request().Context(), cdf.ID(id))
	if err != nil {
		return err
	}
	defer body.Close()
	// The type comes from the checked metadata, never from upstream, so nothing but an image
	// is ever served from this origin.
	c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return c.Stream(http.StatusOK, f.MimeType, body)
}
