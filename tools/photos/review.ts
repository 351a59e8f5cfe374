// The hand-reviewed part of "is it a photograph": wallpapers drawn or rendered to look
// rich pass the measured rule (photo-rule.ts), so they are listed here after looking at
// every candidate (thumbnails in docs/photos.md's procedure). Patterns are globs on the
// path inside the package; a package that gains files needs a new look.

export interface ReviewedExclusion {
  package: string;
  /** Glob (`*` within and across directories) on the path inside the package. */
  pattern: string;
  why: string;
}

export const REVIEWED_EXCLUSIONS: readonly ReviewedExclusion[] = [
  { package: 'gnome-backgrounds', pattern: 'usr/share/backgrounds/gnome/*', why: 'rendered and abstract artwork, no photograph' },
  { package: 'ukui-wallpapers', pattern: 'usr/share/backgrounds/*', why: 'digital artwork, no photograph' },
  { package: 'mate-backgrounds', pattern: 'usr/share/backgrounds/mate/abstract/*', why: 'abstract artwork and a painting (Elephants)' },
  { package: 'mate-backgrounds', pattern: 'usr/share/backgrounds/mate/desktop/*', why: 'logos, stripes and blurred artwork' },
  ...[
    'Altai',
    'Autumn',
    'Canopee',
    'Cascade',
    'Cluster',
    'Elarun',
    'Flow',
    'FlyingKonqui',
    'Honeywave',
    'IceCold',
    'Kay',
    'Kokkini',
    'MilkyWay',
    'Opal',
    'PastelHills',
    'Patak',
    'SafeLanding',
    'Shell',
  ].map((name) => ({
    package: 'plasma-workspace-wallpapers',
    pattern: `usr/share/wallpapers/${name}/*`,
    why: 'drawn or rendered artwork',
  })),
  { package: 'python3-skimage', pattern: '*/skimage/data/color.png', why: 'a synthetic colour wheel' },
  { package: 'python3-skimage', pattern: '*/skimage/data/logo.png', why: "scikit-image's logo" },
  { package: 'python3-skimage', pattern: '*/skimage/registration/tests/data/*', why: 'shifted crops made for a registration test' },
  { package: 'lomiri-wallpapers-16.04', pattern: 'usr/share/backgrounds/umang_by_Abhishek_Mudgal.jpg', why: 'digital artwork' },
  { package: 'lomiri-wallpapers-20.04', pattern: 'usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg', why: 'digital artwork' },
  { package: 'lomiri-wallpapers-20.04', pattern: 'usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg', why: 'digital artwork' },
  { package: 'lomiri-wallpapers-20.04', pattern: 'usr/share/backgrounds/Painting-Colors_by_*', why: 'digital artwork' },
  { package: 'lomiri-wallpapers', pattern: 'usr/share/backgrounds/*', why: "Ubuntu's warty artwork" },
];

/** A glob as a whole-string RegExp: `*` matches any run of characters, `?` one. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The reviewed exclusion that covers this file, if any. */
export function reviewedExclusion(pkg: string, pathInPackage: string): ReviewedExclusion | undefined {
  return REVIEWED_EXCLUSIONS.find((rule) => rule.package === pkg && globToRegExp(rule.pattern).test(pathInPackage));
}
