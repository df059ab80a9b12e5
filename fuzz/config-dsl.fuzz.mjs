// Fuzz target: gracevisor.conf text through the DSL (Peggy) loader, resolver and validator (lib/harness.mjs).
import { makeTarget } from './lib/harness.mjs';

export const fuzz = makeTarget('dsl');
