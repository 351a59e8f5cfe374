import { describe, expect, it } from 'vitest';
import { globToRegExp, reviewedExclusion } from './review.js';

describe('reviewed exclusions', () => {
  it('turns globs into anchored expressions', () => {
    expect(globToRegExp('usr/share/*.jpg').test('usr/share/a/b.jpg')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('a.c').test('abc')).toBe(false);
    expect(globToRegExp('x/*').test('y/x/z')).toBe(false);
  });

  it('excludes reviewed artwork of the named package only', () => {
    expect(reviewedExclusion('plasma-workspace-wallpapers', 'usr/share/wallpapers/Altai/contents/images/5120x2880.png')?.why).toMatch(/artwork/);
    expect(reviewedExclusion('plasma-workspace-wallpapers', 'usr/share/wallpapers/Path/contents/images/2560x1600.jpg')).toBeUndefined();
    expect(reviewedExclusion('mate-backgrounds', 'usr/share/backgrounds/mate/nature/Aqua.jpg')).toBeUndefined();
    expect(reviewedExclusion('other-package', 'usr/share/wallpapers/Altai/contents/images/5120x2880.png')).toBeUndefined();
  });
});
