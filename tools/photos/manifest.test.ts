import { describe, expect, it } from 'vitest';
import { manifestProblems, type PhotoEntry, type PhotoManifest } from './manifest.js';

const entry = (name: string, set: PhotoEntry['set']): PhotoEntry => ({
  file: `${set}/${name}.jpg`,
  set,
  package: 'mate-backgrounds',
  version: '1.26.0-1',
  originalPath: `/usr/share/backgrounds/mate/nature/${name}.jpg`,
  licence: 'GPL-2+',
  width: 2560,
  height: 1600,
  dhash: '00ff00ff00ff00ff',
  colour: '80'.repeat(48),
  duplicates: [],
});

function manifest(photos: PhotoEntry[]): PhotoManifest {
  const count = (set: string): number => photos.filter((p) => p.set === set).length;
  return {
    counts: {
      candidates: photos.length + 3,
      vectorSkipped: 1,
      rejected: { 'too-small': 2 },
      duplicates: 1,
      kept: photos.length,
      calibration: count('calibration'),
      evaluation: count('evaluation'),
      augmented: 0,
    },
    photos,
    augmented: [],
    rejected: [],
  };
}

describe('manifestProblems', () => {
  const good = [entry('Aqua', 'calibration'), entry('Dune', 'evaluation')];

  it('accepts a consistent manifest', () => {
    expect(manifestProblems(manifest(good))).toEqual([]);
  });

  it('names each problem', () => {
    const noLicence = { ...entry('Aqua', 'calibration'), licence: 'UNKNOWN' };
    expect(manifestProblems(manifest([noLicence]))).toEqual(['calibration/Aqua.jpg: no licence']);
    const wrongDir = { ...entry('Aqua', 'evaluation'), file: 'calibration/Aqua.jpg' };
    expect(manifestProblems(manifest([wrongDir]))[0]).toMatch(/not in its set's directory/);
    const twice = [entry('Aqua', 'calibration'), entry('Aqua', 'evaluation')];
    expect(manifestProblems(manifest(twice))).toEqual(['/usr/share/backgrounds/mate/nature/Aqua.jpg: listed twice (calibration, evaluation)']);
    const fromEvaluation = manifest(good);
    fromEvaluation.augmented.push({ file: 'calibration-augmented/Dune-flip.jpg', from: 'evaluation/Dune.jpg', transform: 'flip' });
    fromEvaluation.counts.augmented = 1;
    expect(manifestProblems(fromEvaluation)).toEqual(['calibration-augmented/Dune-flip.jpg: made from evaluation/Dune.jpg, not a calibration photo']);
    const wrongCounts = manifest(good);
    wrongCounts.counts.candidates += 1;
    expect(manifestProblems(wrongCounts)).toEqual(['rejected 2 + duplicates 1 + kept 2 ≠ candidates 6']);
  });
});
