#!/usr/bin/env node
// `stunclient`: see launch.js (builds dist/ when needed, never falls through to coturn's program of the same name).
import { launch } from './launch.js';

await launch('stunclient');
