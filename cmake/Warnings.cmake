# Warnings are errors for our code only; third-party headers come in as system includes.
function(surge_apply_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-error=deprecated-declarations)
endfunction()
