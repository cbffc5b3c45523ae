import type { SourceInfo } from './inspect';
import type { PrintProfile } from './profiles';

export interface QualityIssue {
  code: string;
  message: string;
}

export interface QualityReport {
  profile: string;
  /** False when there is at least one error: the image cannot go to review. */
  passed: boolean;
  errors: QualityIssue[];
  warnings: QualityIssue[];
  info: {
    width: number;
    height: number;
    format: string;
    bytes: number;
    color_space: string;
    has_alpha: boolean;
    /** DPI in the source's metadata (null when it has none). */
    dpi: number | null;
    /** Physical size the source's pixels cover at the profile's DPI. */
    print_size_in: { width: number; height: number };
    /** The DPI the source reaches when stretched to the profile's physical size. */
    effective_dpi: number;
    target: { width: number; height: number; dpi: number; alpha: boolean; fit: string; print_size_in: { width: number; height: number } };
  };
}

const inches = (px: number, dpi: number) => Math.round((px / dpi) * 100) / 100;

/** Checks a decoded header against a print profile. Errors block review; warnings inform it. */
export function qualityReport(profileName: string, profile: PrintProfile, source: SourceInfo): QualityReport {
  const errors: QualityIssue[] = [];
  const warnings: QualityIssue[] = [];
  const size = `${source.width}×${source.height} px`;
  const target = `${profile.width}×${profile.height} px`;

  if (source.width < profile.min_width || source.height < profile.min_height) {
    const required =
      profile.min_width === profile.width && profile.min_height === profile.height
        ? target
        : `${profile.min_width}×${profile.min_height} px`;
    errors.push({
      code: 'RESOLUTION_TOO_LOW',
      message: `Resolution ${size} is below the ${profileName} profile's required ${required} (${profile.dpi} DPI)`,
    });
  } else if (source.width < profile.width || source.height < profile.height) {
    warnings.push({ code: 'UPSCALED', message: `Resolution ${size} is below ${target}; the print file is upscaled and may look soft` });
  }

  const sourceRatio = source.width / source.height;
  const targetRatio = profile.width / profile.height;
  if (Math.abs(sourceRatio / targetRatio - 1) > 0.01) {
    warnings.push({
      code: 'ASPECT_RATIO_MISMATCH',
      message:
        profile.fit === 'contain'
          ? `Aspect ratio ${sourceRatio.toFixed(3)} differs from the profile's ${targetRatio.toFixed(3)}; the artwork is padded ${profile.alpha ? 'with transparency' : `with ${profile.background}`}`
          : `Aspect ratio ${sourceRatio.toFixed(3)} differs from the profile's ${targetRatio.toFixed(3)}; the artwork is cropped to fill`,
    });
  }
  if (profile.alpha && !source.hasAlpha) {
    warnings.push({ code: 'NO_TRANSPARENCY', message: 'The image has no alpha channel: its background prints as an opaque rectangle' });
  }
  if (!profile.alpha && source.hasAlpha) {
    warnings.push({ code: 'TRANSPARENCY_FLATTENED', message: `Transparent areas are flattened onto ${profile.background}` });
  }
  if (source.colorSpace !== 'srgb' && source.colorSpace !== 'b-w') {
    warnings.push({ code: 'COLOR_SPACE_CONVERTED', message: `Colour space ${source.colorSpace} is converted to sRGB` });
  }
  if (source.pages > 1) {
    warnings.push({ code: 'MULTIPLE_FRAMES', message: `The image has ${source.pages} frames; only the first is used` });
  }

  const effectiveDpi = Math.floor(Math.min(source.width / (profile.width / profile.dpi), source.height / (profile.height / profile.dpi)));
  return {
    profile: profileName,
    passed: errors.length === 0,
    errors,
    warnings,
    info: {
      width: source.width,
      height: source.height,
      format: source.format,
      bytes: source.bytes,
      color_space: source.colorSpace,
      has_alpha: source.hasAlpha,
      dpi: source.dpi,
      print_size_in: { width: inches(source.width, profile.dpi), height: inches(source.height, profile.dpi) },
      effective_dpi: effectiveDpi,
      target: {
        width: profile.width,
        height: profile.height,
        dpi: profile.dpi,
        alpha: profile.alpha,
        fit: profile.fit,
        print_size_in: { width: inches(profile.width, profile.dpi), height: inches(profile.height, profile.dpi) },
      },
    },
  };
}
