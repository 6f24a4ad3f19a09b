// The Python file every level of the tests types into: a loop the default model completes.
export const SOURCE = [
  "import os",
  "",
  "",
  "def list_files(root):",
  "    for dirpath, dirnames, filenames in os.walk(root):",
  "        for name in filenames:",
  "            path = os.path.join(dirpath, name)",
  "",
].join("\n");

/** What the tests type on the line after the source, before asking for a suggestion. */
export const TYPED = "            if";
