/**
 * The media query of the phone layout (layout.css uses the same conditions): up to 600 px wide,
 * or a phone turned sideways (short and wide).
 */
export const PHONE_QUERY = '(max-width: 600px), (max-height: 500px) and (orientation: landscape)';
