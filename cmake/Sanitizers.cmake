# GCC 12's flow analysis under -fsanitize and -O2 reports maybe-uninitialized
# inside Beast's boost::optional and mismatched-new-delete inside coroutine
# frames: false positives in library code (the Release build, -O3, and clang
# are clean). They stay warnings there, not errors.
set(SURGE_SANITIZER_WARNINGS -Wno-error=maybe-uninitialized -Wno-error=mismatched-new-delete)

function(surge_apply_sanitizers target)
  if(SURGE_SANITIZE STREQUAL "address")
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined ${SURGE_SANITIZER_WARNINGS})
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  elseif(SURGE_SANITIZE STREQUAL "thread")
    target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer -Wno-error=tsan ${SURGE_SANITIZER_WARNINGS})
    target_link_options(${target} PRIVATE -fsanitize=thread)
  elseif(NOT SURGE_SANITIZE STREQUAL "")
    message(FATAL_ERROR "SURGE_SANITIZE must be '', address or thread")
  endif()
endfunction()
