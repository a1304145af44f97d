package main

import (
	"context"
	"reflect"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// applyVRRP applies the VRRP part of a reload: instances whose identity
// (name, family, interface, VRID) is unchanged keep their state, changed
// settings apply in place, removed instances resign with priority 0.
func (d *seesawd) applyVRRP(ctx context.Context, cfg *config.Config) error {
	oi, og := d.cfg.VRRPInstances()
	ni, ng := cfg.VRRPInstances()
	if reflect.DeepEqual(oi, ni) && reflect.DeepEqual(og, ng) {
		return nil
	}
	return d.node.Update(ctx, &vrrp.Config{Instances: ni, SyncGroups: ng})
}
