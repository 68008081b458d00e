package sim

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
)

// CropSize is the side of the centre crop the models see; Summary reports
// its statistics because they are what normalisation uses.
const CropSize = 32

// Summary describes a written dataset.
type Summary struct {
	Images, Lenses, NonLenses int
	CropMean                  [3]float64 // per-band mean over all centre crops, g, r, i
	CropStd                   [3]float64 // per-band mean of each crop's standard deviation
}

// result is one rendered image's record.
type result struct {
	index     int
	p         Params
	mean, std [3]float64
	err       error
}

// WriteDataset renders cfg's images into dir in the seed's layout:
// dir/lenses/<int>.npy and dir/nonlenses/<int>.npy ((3, Size, Size) float32),
// dir/indices.pkl and dir/splits.json (the splits), and dir/metadata.csv
// (every image's true parameters). Files already there are overwritten;
// checking that dir is empty is the caller's business. progress, if not nil,
// is called from the calling goroutine after each image. The files depend on
// cfg alone, not on cfg.Workers or the machine.
func WriteDataset(dir string, cfg Config, progress func(done, total int)) (Summary, error) {
	names := fileNames(cfg)
	if _, err := newRenderer(&cfg, names); err != nil {
		return Summary{}, err
	}
	for _, l := range []data.Label{data.Lens, data.NonLens} {
		if err := os.MkdirAll(filepath.Join(dir, data.ClassDirs[l]), 0o755); err != nil {
			return Summary{}, fmt.Errorf("sim: %w", err)
		}
	}
	total := cfg.Counts.Total()
	workers := cfg.Workers
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, total)

	jobs := make(chan int)
	results := make(chan result)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd, err := newRenderer(&cfg, names)
			if err != nil {
				results <- result{err: err}
				return
			}
			for i := range jobs {
				results <- rd.write(dir, i)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range total {
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	// Results arrive in any order; they are stored by index so that
	// everything derived from them is independent of scheduling.
	all := make([]result, total)
	var firstErr error
	done := 0
	for res := range results {
		if res.err != nil && firstErr == nil {
			firstErr = res.err
			close(stop)
		}
		all[res.index] = res
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	if firstErr != nil {
		return Summary{}, firstErr
	}

	var splits data.Splits
	sum := Summary{Images: total}
	for _, res := range all {
		cf := splits.Split(res.p.Split)
		if res.p.Label == data.Lens {
			cf.Lenses = append(cf.Lenses, res.p.File)
			sum.Lenses++
		} else {
			cf.NonLenses = append(cf.NonLenses, res.p.File)
			sum.NonLenses++
		}
		for c := range sum.CropMean {
			sum.CropMean[c] += res.mean[c] / float64(total)
			sum.CropStd[c] += res.std[c] / float64(total)
		}
	}
	ds := layout.Dataset(dir)
	if err := data.WriteSplitsPickle(ds.Path(layout.SplitsPickle), splits); err != nil {
		return Summary{}, err
	}
	if err := data.WriteSplitsJSON(ds.Path(layout.SplitsJSON), splits); err != nil {
		return Summary{}, err
	}
	if err := ds.WriteMetadata(metadata(all)); err != nil {
		return Summary{}, fmt.Errorf("sim: %w", err)
	}
	return sum, nil
}

// write renders image i, writes its file and returns its record.
func (rd *renderer) write(dir string, i int) result {
	im, p, err := rd.render(i)
	if err != nil {
		return result{index: i, err: err}
	}
	path := filepath.Join(dir, data.ClassDirs[p.Label], p.File)
	if err := data.WriteNPY(path, im); err != nil {
		return result{index: i, err: fmt.Errorf("sim: %w", err)}
	}
	res := result{index: i, p: p}
	res.mean, res.std = cropStats(im)
	return res
}

// cropStats returns the per-band mean and standard deviation of the
// CropSize x CropSize centre crop (the whole image if smaller), with the
// offsets torchvision's CenterCrop uses.
func cropStats(im data.Image) (mean, std [3]float64) {
	for c := 0; c < min(im.C, 3); c++ {
		crop, _ := cropPlane(im.Plane(c), im.H, im.W)
		var s, s2 float64
		for _, v := range crop {
			s += v
			s2 += v * v
		}
		n := float64(len(crop))
		mean[c] = s / n
		std[c] = math.Sqrt(max(s2/n-mean[c]*mean[c], 0))
	}
	return mean, std
}

// metadataParams are the numeric columns of metadata.csv. Lens-only
// columns (up to magnification) have no value for non-lenses; lens_*
// describe the central galaxy of every image.
var metadataParams = []string{
	"theta_e", "mass_q", "mass_angle", "shear_g1", "shear_g2",
	"src_x", "src_y", "src_mag_g", "src_mag_r", "src_mag_i", "src_n", "src_r_eff", "src_q", "src_clumps", "magnification",
	"src_z", "arc_snr",
	"lens_z", "lens_sigma_v", "lens_x", "lens_y", "lens_mag_g", "lens_mag_r", "lens_mag_i", "lens_n", "lens_r_eff", "lens_q", "lens_angle",
	"seeing_g", "seeing_r", "seeing_i", "sky_sigma_g", "sky_sigma_r", "sky_sigma_i",
}

// metadata collects every image's true parameters for metadata.csv.
func metadata(all []result) layout.Metadata {
	m := layout.Metadata{Params: metadataParams, Images: make([]layout.ImageMeta, len(all))}
	for i, res := range all {
		p, c := res.p, res.p.Central
		values := []float64{p.Redshift, p.VelocityDispersion, c.X, c.Y, c.Mag[0], c.Mag[1], c.Mag[2], c.N, c.Reff, c.Q, c.Angle,
			p.Seeing[0], p.Seeing[1], p.Seeing[2], p.SkySigma[0], p.SkySigma[1], p.SkySigma[2]}
		if p.Kind == KindLens {
			s := p.Source
			values = append([]float64{p.ThetaE, p.MassQ, p.MassAngle, p.Shear[0], p.Shear[1],
				s.X, s.Y, s.Mag[0], s.Mag[1], s.Mag[2], s.N, s.Reff, s.Q, float64(p.Clumps), p.Magnification,
				p.SourceRedshift, p.ArcSNR}, values...)
		}
		params := map[string]float64{}
		names := metadataParams[len(metadataParams)-len(values):]
		for j, v := range values {
			params[names[j]] = v
		}
		m.Images[i] = layout.ImageMeta{File: p.File, Class: data.ClassDirs[p.Label], Split: string(p.Split), Kind: p.Kind,
			Params: params, Contaminants: p.Contaminants}
	}
	return m
}
