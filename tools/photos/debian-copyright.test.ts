import { describe, expect, it } from 'vitest';
import { licenceFor, parseDebianCopyright, UNKNOWN_LICENCE } from './debian-copyright.js';

// Shaped like mate-backgrounds' and lomiri-wallpapers' files: source-tree paths.
const DEP5 = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: backgrounds

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: nature/Aqua.jpg
  nature/Blinds.jpg
Copyright: 2010 A Photographer
License: CC-BY-SA-4.0

Files: 16.04/seeding_by_*.jpg
Copyright: 2018 Another
License: CC0-1.0

Files: sample_data/*
Copyright: 2012 The team
License:
 Permission is hereby granted ...

License: GPL-2+
 On Debian systems, see /usr/share/common-licenses/GPL-2.
`;

describe('Debian copyright files', () => {
  const copyright = parseDebianCopyright(DEP5);

  it('reads the stanzas of a machine-readable file', () => {
    expect(copyright.machineReadable).toBe(true);
    expect(copyright.stanzas.map((s) => s.licence)).toEqual(['GPL-2+', 'CC-BY-SA-4.0', 'CC0-1.0', 'custom (text in the package copyright file)']);
    expect(copyright.stanzas[1]?.files).toEqual(['nature/Aqua.jpg', 'nature/Blinds.jpg']);
  });

  it('gives an installed file the licence of the last stanza that matches it', () => {
    expect(licenceFor(copyright, 'usr/share/backgrounds/mate/nature/Blinds.jpg')).toBe('CC-BY-SA-4.0');
    expect(licenceFor(copyright, 'usr/share/backgrounds/mate/nature/Dune.jpg')).toBe('GPL-2+');
    // The source tree's directory is not installed: a literal file name still matches…
    expect(licenceFor(copyright, 'usr/share/backgrounds/Aqua.jpg')).toBe('CC-BY-SA-4.0');
    // …a wildcard name needs its directory.
    expect(licenceFor(copyright, 'usr/share/backgrounds/seeding_by_X.jpg')).toBe('GPL-2+');
    expect(licenceFor(copyright, 'usr/share/backgrounds/16.04/seeding_by_X.jpg')).toBe('CC0-1.0');
    expect(licenceFor(copyright, 'usr/share/matplotlib/sample_data/grace.jpg')).toBe('custom (text in the package copyright file)');
  });

  it('falls back to the first licence named in an old-style file, else UNKNOWN', () => {
    const old = parseDebianCopyright('This package was debianized by someone.\n\nLicense: GPL-2\n\nMore text.\n');
    expect(old.machineReadable).toBe(false);
    expect(licenceFor(old, 'usr/share/x.png')).toBe('GPL-2');
    expect(licenceFor(parseDebianCopyright('Copyright 2005, all rights reserved.\n'), 'a.png')).toBe(UNKNOWN_LICENCE);
  });
});
