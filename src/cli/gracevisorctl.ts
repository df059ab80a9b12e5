#!/usr/bin/env node
/**
 * gracevisorctl: the operator's command line for a running gracevisord. It speaks only the control
 * API (src/control/). Exit status: 0 done, 1 the command failed (daemon unreachable, unknown app,
 * refused, a restart or reload that failed), 2 the command line does not parse.
 */
import { runCtl } from './ctl/cli.js';

process.exitCode = await runCtl(process.argv.slice(2));
