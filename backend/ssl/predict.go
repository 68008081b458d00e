package ssl

import (
	"context"
	"fmt"

	"github.com/sslens/sslens/backend/eval"
)

// chunk is the number of images handed to a model per call when scoring
// or embedding a set: enough to keep the model busy, few enough to report
// progress and notice cancellation often.
const chunk = 256

// Counter is told how many of total images are done.
type Counter func(done, total int)

// inChunks calls fn on consecutive chunks of s, checking ctx before each.
func inChunks(ctx context.Context, s *Set, progress Counter, fn func(lo, hi int) error) error {
	n := s.Len()
	for lo := 0; lo < n; lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+chunk)
		if err := fn(lo, hi); err != nil {
			return err
		}
		if progress != nil {
			progress(hi, n)
		}
	}
	return nil
}

// Predict returns P(lens) for every image of s.
func Predict(ctx context.Context, m Predictor, s *Set, progress Counter) ([]float64, error) {
	out := make([]float64, 0, s.Len())
	err := inChunks(ctx, s, progress, func(lo, hi int) error {
		p, err := m.Predict(s.Images(lo, hi))
		if err != nil {
			return err
		}
		if len(p) != hi-lo {
			return fmt.Errorf("ssl: model returned %d probabilities for %d images", len(p), hi-lo)
		}
		out = append(out, p...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Features returns the embedding of every image of s.
func Features(ctx context.Context, m Featurer, s *Set, progress Counter) ([][]float32, error) {
	out := make([][]float32, 0, s.Len())
	err := inChunks(ctx, s, progress, func(lo, hi int) error {
		f, err := m.Features(s.Images(lo, hi))
		if err != nil {
			return err
		}
		if len(f) != hi-lo {
			return fmt.Errorf("ssl: model returned %d feature vectors for %d images", len(f), hi-lo)
		}
		out = append(out, f...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EvaluateSet scores the labelled set s with m and reports every metric.
func EvaluateSet(ctx context.Context, m Predictor, s *Set, opts eval.Options, progress Counter) (eval.Report, error) {
	p, err := Predict(ctx, m, s, progress)
	if err != nil {
		return eval.Report{}, err
	}
	return eval.Evaluate(p, s.Labels, opts)
}

// EvaluateKNN classifies query by DINO's weighted kNN vote over the
// features of train (k neighbours, temperature T; eval.KNNK and
// eval.KNNTemperature are the reference project's) and reports the metrics of the lens share
// of the vote.
func EvaluateKNN(ctx context.Context, m Featurer, train, query *Set, k int, T float64, opts eval.Options, progress Counter) (eval.Report, error) {
	var tp Counter
	if progress != nil {
		tp = func(done, _ int) { progress(done, train.Len()+query.Len()) }
	}
	tf, err := Features(ctx, m, train, tp)
	if err != nil {
		return eval.Report{}, err
	}
	var qp Counter
	if progress != nil {
		qp = func(done, _ int) { progress(train.Len()+done, train.Len()+query.Len()) }
	}
	qf, err := Features(ctx, m, query, qp)
	if err != nil {
		return eval.Report{}, err
	}
	_, score, err := eval.KNN(tf, train.Labels, qf, k, T)
	if err != nil {
		return eval.Report{}, err
	}
	return eval.Evaluate(score, query.Labels, opts)
}
