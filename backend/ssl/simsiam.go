package ssl

import (
	"fmt"
	"math/rand/v2"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// simsiam is SimSiam: one encoder (backbone and projector) and a
// predictor, trained with the negative cosine between each view's
// prediction and the other view's projection, the projection held fixed
// (the paper's stop-gradient: the predictor learns).
type simsiam struct {
	cfg     *config.Config
	head    nn.SimSiamHead
	student *vit.Params
	params  *vit.Params // projector and predictor
	bufs    nn.Buffers
	net     *nn.SimSiam
	z       []float32 // the latest step's projections
}

func newSimSiam(cfg *config.Config, student *vit.Params, rng *rand.Rand, chunk int) (*simsiam, error) {
	n := cfg.Network
	s := &simsiam{cfg: cfg, student: student, params: &vit.Params{}}
	s.head = nn.SimSiamHead{In: student.Preset.Dim, Hidden: n.ProjectorHiddenDim, Out: n.HeadOutputDim,
		Layers: n.ProjectorNLayers, BN: n.ProjectorUseBN, PredHidden: n.PredictorHiddenDim}
	if err := s.head.AddParams(s.params, rng); err != nil {
		return nil, err
	}
	s.bufs = s.head.Buffers()
	var err error
	s.net, err = nn.NewSimSiam(student, s.params, s.bufs, nn.SimSiamOptions{Head: s.head, Batch: cfg.Train.BatchSize,
		Size: cfg.Augmentation.CropSize, Seed: cfg.Experiment.Seed, Chunk: chunk})
	return s, err
}

func (s *simsiam) vars() []optim.Var     { return s.net.Vars() }
func (s *simsiam) lastLayer(string) bool { return false }
func (s *simsiam) patchGrid() int        { return 0 }
func (s *simsiam) reseed(step uint64)    { s.net.Reseed(step) }

func (s *simsiam) step(b *viewBatch, _ int) (stepLoss, error) {
	l, err := s.net.TrainStep(b.globals)
	if err != nil {
		return stepLoss{}, err
	}
	s.z = s.net.Projections()
	return stepLoss{total: l}, nil
}

func (s *simsiam) update(float64)             {}
func (s *simsiam) health() Health             { return projectionHealth(s.z, s.head.Out) }
func (s *simsiam) evalParams() *vit.Params    { return s.student }
func (s *simsiam) studentParams() *vit.Params { return nil }
func (s *simsiam) network() string            { return "student" }

func (s *simsiam) notes() []string {
	pred := fmt.Sprintf("a Linear(%d, %d)", s.head.Out, s.head.Out)
	if s.head.PredHidden > 0 {
		// The reference project's code ignored the key and always built
		// one Linear; its configs set 512, the paper's bottleneck.
		pred = fmt.Sprintf("the bottleneck %d-%d-%d (network.predictor_head_hidden_dim; 0 gives the reference code's single Linear)",
			s.head.Out, s.head.PredHidden, s.head.Out)
	}
	out := []string{fmt.Sprintf("projector %d-%d-%d, %d layers, batch norm %t; predictor %s; stop-gradient on the target projections",
		s.head.In, s.head.Hidden, s.head.Out, s.head.Layers, s.head.BN, pred)}
	if f := s.cfg.Train.FreezeLastLayer; f > 0 {
		out = append(out, fmt.Sprintf("train args.freeze_last_layer %d is not used: SimSiam has no last layer to hold", f))
	}
	return out
}

func (s *simsiam) state(extra map[string][]float32) {
	putParams(extra, extraHead, s.params)
	putBuffers(extra, extraBuffers, s.bufs)
}

func (s *simsiam) restore(extra map[string][]float32) error {
	if err := getParams(extra, extraHead, s.params); err != nil {
		return err
	}
	return getBuffers(extra, extraBuffers, s.bufs)
}

func (s *simsiam) close() { s.net.Close() }
