// Fuzz target: gracevisor.yaml text through the YAML loader, resolver and validator (lib/harness.mjs).
import { makeTarget } from './lib/harness.mjs';

export const fuzz = makeTarget('yaml');
