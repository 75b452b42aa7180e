// The in-memory BlockStore against the shared conformance suite.
import { blockStoreConformance, memoryHarness } from './blockstore.conformance.js';

blockStoreConformance('memory', () => memoryHarness());
