#!/usr/bin/env node
// vfab command-line entry: registers the TypeScript loader (tsx) and hands over to daemons/cli.ts.
import { register } from 'tsx/esm/api';
register();
await import('../daemons/cli.ts');
