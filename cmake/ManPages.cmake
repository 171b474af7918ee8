# sealvault_man_page(PAGE): installs the hand-written roff page PAGE (in the
# current source dir, named NAME.SECTION) gzipped into man<SECTION>, as
# Debian policy wants it. gzip -n: no name or time stamp, so the same
# source gives the same bytes.
find_program(GZIP_PROGRAM gzip REQUIRED)

function(sealvault_man_page page)
	if(NOT page MATCHES "\\.([1-8])$")
		message(FATAL_ERROR "sealvault_man_page: ${page} does not end in a section number")
	endif()
	set(section ${CMAKE_MATCH_1})
	set(src ${CMAKE_CURRENT_SOURCE_DIR}/${page})
	set(gz ${CMAKE_CURRENT_BINARY_DIR}/${page}.gz)
	add_custom_command(OUTPUT ${gz}
		COMMAND ${GZIP_PROGRAM} -9nc ${src} > ${gz}
		DEPENDS ${src}
		COMMENT "gzip ${page}"
		VERBATIM)
	add_custom_target(man-${page} ALL DEPENDS ${gz})
	install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()
