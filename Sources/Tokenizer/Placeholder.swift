enum TokenizerPlaceholder {}
