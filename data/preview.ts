/** A text rendering of one image, for checking a loader by eye in a terminal or a log. */

import type { ImageDataset } from './dataset.js';

// From dark to bright. Blank for exactly 0 keeps the background clean.
const SHADES = [' ', '.', ':', '+', '#'] as const;

/**
 * Renders image `index` as `height` lines of `width` characters, darker to brighter
 * ` .:+#`, followed by a line with its label.
 */
export function formatImageAscii(dataset: ImageDataset, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= dataset.count) {
    throw new RangeError(
      `formatImageAscii: index ${index} is outside the dataset ${dataset.source}, which has ${dataset.count} examples`,
    );
  }

  const { height, width } = dataset;
  const start = index * height * width;
  const rows: string[] = [];

  for (let row = 0; row < height; row++) {
    let text = '';
    for (let column = 0; column < width; column++) {
      const value = dataset.images[start + row * width + column]!;
      const shade = value <= 0 ? 0 : Math.min(SHADES.length - 1, 1 + Math.floor(value * (SHADES.length - 1)));
      text += SHADES[shade];
    }
    rows.push(text);
  }

  rows.push(`label ${dataset.labels[index]}`);
  return rows.join('\n');
}
