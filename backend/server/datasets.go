package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/jobs"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// datasetIndex is what a dataset folder holds, read once and kept until
// the folder changes.
type datasetIndex struct {
	stamp    string                // modification times it was read at
	images   []shared.ImageSummary // lenses first, by name
	byID     map[string]int        // ImageSummary.ID -> index
	contam   map[string][]string   // ID -> contaminants (metadata.csv)
	splits   map[string]shared.ClassCount
	sortKeys []string
	counts   shared.ClassCount
}

// datasetCache holds the index of each dataset folder.
type datasetCache struct {
	mu  sync.Mutex
	idx map[string]*datasetIndex // by absolute folder
}

func newDatasetCache() *datasetCache { return &datasetCache{idx: map[string]*datasetIndex{}} }

// stampOf summarises the modification times of what an index is built from.
func stampOf(dir string) string {
	var b strings.Builder
	for _, name := range layout.DatasetFiles {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", name, st.ModTime().UnixNano(), st.Size())
		}
	}
	return b.String()
}

// get returns the index of dir, rebuilding it when the folder changed.
func (dc *datasetCache) get(dir string) (*datasetIndex, error) {
	stamp := stampOf(dir)
	dc.mu.Lock()
	ix := dc.idx[dir]
	dc.mu.Unlock()
	if ix != nil && ix.stamp == stamp {
		return ix, nil
	}
	ix, err := buildIndex(dir)
	if err != nil {
		return nil, err
	}
	ix.stamp = stamp
	dc.mu.Lock()
	dc.idx[dir] = ix
	dc.mu.Unlock()
	return ix, nil
}

// buildIndex lists a dataset folder's images with their split and, when
// metadata.csv exists (simulated data), their parameters.
func buildIndex(dir string) (*datasetIndex, error) {
	ds, err := data.OpenDataset(dir)
	if err != nil {
		return nil, err
	}
	ix := &datasetIndex{byID: map[string]int{}, contam: map[string][]string{}, splits: map[string]shared.ClassCount{}}
	for _, l := range data.Labels {
		class := data.ClassDirs[l]
		names := ds.Files.Files(l)
		slices.SortFunc(names, naturalCompare)
		for _, n := range names {
			id := class + "/" + n
			ix.byID[id] = len(ix.images)
			ix.images = append(ix.images, shared.ImageSummary{ID: id, Class: class})
		}
	}
	ix.counts = shared.ClassCount{Lenses: len(ds.Files.Lenses), NonLenses: len(ds.Files.NonLenses), Unlabelled: len(ds.Files.Unlabelled)}
	if p := data.SplitsFile(dir); p != "" {
		sp, err := data.ReadSplits(p)
		if err != nil {
			return nil, err
		}
		for _, name := range data.SplitNames {
			cf := sp.Split(name)
			ix.splits[string(name)] = shared.ClassCount{Lenses: len(cf.Lenses), NonLenses: len(cf.NonLenses), Unlabelled: len(cf.Unlabelled)}
			for _, l := range data.Labels {
				for _, f := range cf.Files(l) {
					if i, ok := ix.byID[data.ClassDirs[l]+"/"+f]; ok {
						ix.images[i].Split = string(name)
					}
				}
			}
		}
	}
	if err := ix.readMetadata(layout.Dataset(dir)); err != nil {
		return nil, err
	}
	return ix, nil
}

// readMetadata adds the simulator's parameters from metadata.csv, when
// the dataset has one (real data does not).
func (ix *datasetIndex) readMetadata(ds layout.Dataset) error {
	meta, err := ds.ReadMetadata()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, row := range meta.Images {
		i, ok := ix.byID[row.Class+"/"+row.File]
		if !ok {
			continue // listed but not on disk
		}
		im := &ix.images[i]
		im.Kind = row.Kind
		if len(row.Contaminants) > 0 {
			ix.contam[im.ID] = row.Contaminants
		}
		if len(row.Params) > 0 {
			im.Params = row.Params
		}
		for k := range row.Params {
			keys[k] = true
		}
	}
	for _, k := range meta.Params {
		if keys[k] {
			ix.sortKeys = append(ix.sortKeys, k)
		}
	}
	return nil
}

var digitsRe = regexp.MustCompile(`^(\d+)(.*)$`)

// naturalCompare orders "2.npy" before "10.npy".
func naturalCompare(a, b string) int {
	ma, mb := digitsRe.FindStringSubmatch(a), digitsRe.FindStringSubmatch(b)
	if ma != nil && mb != nil {
		na, _ := strconv.ParseUint(ma[1], 10, 64)
		nb, _ := strconv.ParseUint(mb[1], 10, 64)
		return cmp.Or(cmp.Compare(na, nb), cmp.Compare(ma[2], mb[2]), cmp.Compare(a, b))
	}
	return cmp.Compare(a, b)
}

// datasetDTO describes a stored dataset with its folder's contents.
func (s *Server) datasetDTO(ctx context.Context, d store.Dataset) (shared.Dataset, error) {
	out := shared.Dataset{ID: d.ID, Name: d.Name, Kind: d.Kind, Job: d.Job, Created: d.Created, Survey: d.Survey, Counts: d.Counts, Source: d.Source,
		State: shared.DatasetReady}
	if d.Job != 0 {
		j, err := s.st.Run(ctx, d.Job)
		if err != nil {
			return out, err
		}
		switch {
		case !j.State.Final():
			out.State = shared.DatasetBuilding
		case j.State != shared.StateSucceeded:
			out.State = shared.DatasetFailed
		}
		if out.State != shared.DatasetReady {
			if j.Progress != nil {
				out.Images = int(j.Progress.Done)
			}
			return out, nil
		}
	}
	ix, err := s.sets.get(s.abs(d.Dir))
	if err != nil {
		out.State = shared.DatasetMissing
		return out, nil
	}
	out.Images, out.Lenses, out.NonLenses, out.Unlabelled = len(ix.images), ix.counts.Lenses, ix.counts.NonLenses, ix.counts.Unlabelled
	out.SortKeys = ix.sortKeys
	if len(ix.splits) > 0 {
		out.Splits = ix.splits
	}
	return out, nil
}

func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request, c *Call) error {
	ds, err := s.st.Datasets(r.Context())
	if err != nil {
		return err
	}
	out := []shared.Dataset{}
	for _, d := range ds {
		dto, err := s.datasetDTO(r.Context(), d)
		if err != nil {
			return err
		}
		out = append(out, dto)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getDataset(w http.ResponseWriter, r *http.Request, c *Call) error {
	d, err := s.dataset(r)
	if err != nil {
		return err
	}
	dto, err := s.datasetDTO(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dto)
	return nil
}

func (s *Server) dataset(r *http.Request) (store.Dataset, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Dataset{}, err
	}
	return s.st.Dataset(r.Context(), id)
}

// readyIndex returns the index of a dataset that can be browsed.
func (s *Server) readyIndex(r *http.Request) (store.Dataset, *datasetIndex, error) {
	d, err := s.dataset(r)
	if err != nil {
		return d, nil, err
	}
	dto, err := s.datasetDTO(r.Context(), d)
	if err != nil {
		return d, nil, err
	}
	if dto.State != shared.DatasetReady {
		return d, nil, errConflict("dataset %d is %s", d.ID, dto.State)
	}
	ix, err := s.sets.get(s.abs(d.Dir))
	return d, ix, err
}

var datasetNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func (s *Server) createDataset(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.CreateDatasetRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !datasetNameRe.MatchString(req.Name) {
		return errInvalid("bad dataset name", shared.FieldError{Key: "name", Message: fmt.Sprintf("%q: want 1 to 64 letters, digits, '-' or '_'", req.Name)})
	}
	switch {
	case req.Import != nil && req.FromGrades != nil:
		return errInvalid("import or grades, not both", shared.FieldError{Key: "import", Message: "a dataset comes from an import or from the grades"})
	case req.Import != nil:
		return s.createImportedDataset(w, r, c, req)
	case req.FromGrades != nil:
		return s.createGradedDataset(w, r, c, req)
	}
	req.Survey, req.Counts = cmp.Or(req.Survey, "hsc"), cmp.Or(req.Counts, "seed")
	if _, err := jobs.SimulateTotal(req.Survey, req.Counts); err != nil {
		return errInvalid("bad simulator presets", shared.FieldError{Key: "survey/counts", Message: err.Error()})
	}
	j, err := s.SimulateDataset(r.Context(), c.User(), req)
	if err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "dataset.create", "dataset "+req.Name, fmt.Sprintf("run %d: %s %s seed %d", j.ID, req.Survey, req.Counts, req.Seed)); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, j.Run)
	return nil
}

// SimulateDataset records a dataset under DATA/datasets/NAME and queues
// the simulate run that builds it.
func (s *Server) SimulateDataset(ctx context.Context, user string, req shared.CreateDatasetRequest) (store.Run, error) {
	rel := filepath.Join("datasets", req.Name)
	d, err := s.st.CreateDataset(ctx, store.Dataset{Name: req.Name, Dir: rel, Kind: "simulated", Survey: req.Survey, Counts: req.Counts})
	if err != nil {
		return store.Run{}, err
	}
	j, err := s.opt.Jobs.Submit(ctx, jobs.Submission{
		NewRun: store.NewRun{Kind: shared.KindSimulate, Name: "simulate " + req.Name, Dataset: d.ID, CreatedBy: user},
		Params: jobs.Params{Out: rel, Survey: req.Survey, Counts: req.Counts, Seed: req.Seed},
	})
	if err != nil {
		return store.Run{}, err
	}
	return j, s.st.SetDatasetJob(ctx, d.ID, j.ID)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, c *Call) error {
	d, ix, err := s.readyIndex(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	class, key, order := q.Get("class"), cmp.Or(q.Get("sort"), "name"), cmp.Or(q.Get("order"), "asc")
	var split data.SplitName // "": every split
	if v := q.Get("split"); v != "" {
		if split, err = data.ParseSplit(v); err != nil {
			return errBadRequest("split=%q: want train, val or test", v)
		}
	}
	if class != "" && class != shared.ClassLens && class != shared.ClassNonLens && class != shared.ClassUnlabelled {
		return errBadRequest("class=%q: want lenses, nonlenses or unlabelled", class)
	}
	if key != "name" && !slices.Contains(ix.sortKeys, key) {
		return errBadRequest("sort=%q: want name or one of %s", key, strings.Join(ix.sortKeys, ", "))
	}
	if order != "asc" && order != "desc" {
		return errBadRequest("order=%q: want asc or desc", order)
	}
	page, err := queryInt(r, "page", 1, 1, math.MaxInt32)
	if err != nil {
		return err
	}
	per, err := queryInt(r, "per_page", 48, 1, 500)
	if err != nil {
		return err
	}
	var sel []shared.ImageSummary
	for _, im := range ix.images {
		if (split == "" || im.Split == string(split)) && (class == "" || im.Class == class) {
			sel = append(sel, im)
		}
	}
	if key != "name" {
		// Images without the parameter (non-lenses for lens columns) go last either way.
		slices.SortStableFunc(sel, func(a, b shared.ImageSummary) int {
			va, oka := a.Params[key]
			vb, okb := b.Params[key]
			switch {
			case !oka || !okb:
				return cmp.Compare(boolInt(!oka), boolInt(!okb))
			case order == "desc":
				return cmp.Compare(vb, va)
			}
			return cmp.Compare(va, vb)
		})
	} else if order == "desc" {
		slices.Reverse(sel)
	}
	out := shared.ImagePage{Dataset: d.ID, Total: len(sel), Page: page, PerPage: per, Images: []shared.ImageSummary{}}
	if lo := (page - 1) * per; lo < len(sel) {
		out.Images = sel[lo:min(lo+per, len(sel))]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// datasetImage resolves the {class}/{file} of a request to an indexed
// image and reads its file.
func (s *Server) datasetImage(r *http.Request) (shared.ImageSummary, *datasetIndex, []byte, error) {
	d, ix, err := s.readyIndex(r)
	if err != nil {
		return shared.ImageSummary{}, nil, nil, err
	}
	id := r.PathValue("class") + "/" + r.PathValue("file")
	i, ok := ix.byID[id]
	if !ok { // only indexed names reach the file system: no traversal
		return shared.ImageSummary{}, nil, nil, errNotFound("dataset %d has no image %q", d.ID, id)
	}
	b, err := os.ReadFile(filepath.Join(s.abs(d.Dir), filepath.FromSlash(id)))
	return ix.images[i], ix, b, err
}

func (s *Server) imageDetail(w http.ResponseWriter, r *http.Request, c *Call) error {
	sum, ix, b, err := s.datasetImage(r)
	if err != nil {
		return err
	}
	det, err := s.detail(r, sum.ID, b)
	if err != nil {
		return err
	}
	det.ImageSummary, det.Contaminants = sum, ix.contam[sum.ID]
	writeJSON(w, http.StatusOK, det)
	return nil
}

// maxDetailPixels bounds the pixels per band an image detail sends with
// ?pixels=1: three bands of 256 x 256 are about 2.5 MB of JSON.
const maxDetailPixels = 256 * 256

// detail decodes the image file b (named name) in a render slot and
// returns its statistics, with its pixels when the query has ?pixels=1.
func (s *Server) detail(r *http.Request, name string, b []byte) (shared.ImageDetail, error) {
	pixels := r.URL.Query().Get("pixels") == "1"
	release, err := s.renders.acquire(r.Context())
	if err != nil {
		return shared.ImageDetail{}, err
	}
	defer release()
	im, err := data.DecodeImage(name, b, data.ReadOptions{})
	if err != nil {
		return shared.ImageDetail{}, errConflict("%v", err)
	}
	if pixels && im.H*im.W > maxDetailPixels {
		return shared.ImageDetail{}, errBadRequest("pixels=1: %s is %dx%d pixels; pixel values are sent for at most %d a band (256x256), use its PNG",
			name, im.W, im.H, maxDetailPixels)
	}
	return detailOf(im, pixels), nil
}

// detailOf computes an image's per-band statistics.
func detailOf(im data.Image, pixels bool) shared.ImageDetail {
	det := shared.ImageDetail{Size: [3]int{im.C, im.H, im.W}}
	for c := range im.C {
		plane := im.Plane(c)
		v := make([]float64, len(plane))
		var sum, sum2 float64
		for i, x := range plane {
			v[i] = float64(x)
			sum += v[i]
			sum2 += v[i] * v[i]
		}
		slices.Sort(v)
		n := float64(len(v))
		mean := sum / n
		name := strconv.Itoa(c)
		if c < len(data.Bands) {
			name = data.Bands[c]
		}
		det.Bands = append(det.Bands, shared.BandStats{Band: name, Min: v[0], Max: v[len(v)-1], Mean: mean,
			Std: math.Sqrt(max(sum2/n-mean*mean, 0)), Median: eval.Quantile(v, 0.5), P01: eval.Quantile(v, 0.01), P99: eval.Quantile(v, 0.99)})
		if pixels {
			det.Pixels = append(det.Pixels, slices.Clone(plane))
		}
	}
	return det
}

func (s *Server) imagePNG(w http.ResponseWriter, r *http.Request, c *Call) error {
	sum, _, b, err := s.datasetImage(r)
	if err != nil {
		return err
	}
	return s.servePNG(w, r, sum.ID, b)
}
