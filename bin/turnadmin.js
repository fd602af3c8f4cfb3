#!/usr/bin/env node
// `turnadmin`: see launch.js (builds dist/ when needed, never falls through to coturn's program of the same name).
import { launch } from './launch.js';

await launch('turnadmin');
